package iaassim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// tokenTTL is how long a client token is remembered (API.md: at least 24 hours).
const tokenTTL = 48 * time.Hour

func tokenKey(tenant, action, token string) string {
	return tenant + "/" + action + "/" + token
}

// paramsHash identifies a create's parameters (the caller passes them with ClientToken
// cleared).
func paramsHash(params any) string {
	b, err := json.Marshal(params)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// replayToken is called with state.mu held for writing. If token was used by this
// tenant for this action, it decodes the first answer into resp and returns true; a
// token reused with other parameters is IdempotentParameterMismatch.
func (s *Server) replayToken(c *call, token, hash string, resp any) (bool, *iaasclient.Error) {
	if token == "" {
		return false, nil
	}
	if err := validate.ClientToken(token); err != nil {
		return false, err
	}
	rec, ok := s.state.tokens[tokenKey(c.tenant.name, c.action, token)]
	if !ok || s.now().Sub(rec.CreatedAt) > tokenTTL {
		return false, nil
	}
	if rec.ParamsHash != hash {
		return false, validate.TokenMismatch(token)
	}
	if err := json.Unmarshal(rec.Response, resp); err != nil {
		return false, errf(iaasclient.CodeInternalError, "stored response unreadable: %v", err)
	}
	return true, nil
}

// recordToken stages the token with the answer in the same txn as the create.
func (s *Server) recordToken(tx *txn, c *call, token, hash string, resp any) {
	if token == "" {
		return
	}
	setRequestID(resp, "")
	b, err := json.Marshal(resp)
	if err != nil {
		panic(err)
	}
	k := tokenKey(c.tenant.name, c.action, token)
	tx.putToken(k, &tokenRec{Tenant: c.tenant.name, Action: c.action, Token: token, ParamsHash: hash, Response: b, CreatedAt: s.now()})
}
