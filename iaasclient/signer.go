package iaasclient

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signing headers and scheme; see API.md "Authentication".
const (
	SignatureScheme = "IAAS1-HMAC-SHA256"
	HeaderTimestamp = "X-Iaas-Timestamp"
	HeaderNonce     = "X-Iaas-Nonce"
	HeaderRequestID = "X-Request-Id"
	// MaxClockSkew is how far a request's timestamp may be from the server's clock.
	MaxClockSkew = 300 * time.Second
)

// Credentials are a tenant's access key.
type Credentials struct {
	AccessKeyID string `json:"accessKeyId"`
	SecretKey   string `json:"secretKey"`
}

// StringToSign is the canonical form of a request that the signature covers. query is
// CanonicalQuery of the request's query string: a query is covered too, so that a
// captured request cannot be replayed with other query parameters.
func StringToSign(method, path, query, timestamp, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return strings.Join([]string{SignatureScheme, method, path, query, timestamp, nonce, hex.EncodeToString(sum[:])}, "\n")
}

// CanonicalQuery is the query string in the form that is signed: parameters sorted by
// name, then by value, each name and value percent-escaped as url.QueryEscape does,
// joined with & ("" for no query). A query that does not parse is an error.
func CanonicalQuery(rawQuery string) (string, error) {
	if rawQuery == "" {
		return "", nil
	}
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", err
	}
	parts := make([]string, 0, len(v))
	for k, vs := range v {
		for _, x := range vs {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(x))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&"), nil
}

// ValidNonce is the nonce rule of API.md: 16 to 128 characters of A-Z a-z 0-9 - _.
func ValidNonce(n string) bool {
	if len(n) < 16 || len(n) > 128 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func signature(secret, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// SignRequest sets the timestamp, a fresh nonce and the Authorization header on req,
// whose body is body. Call it again for every retry.
func SignRequest(req *http.Request, body []byte, creds Credentials, now time.Time) error {
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		return fmt.Errorf("making a nonce: %w", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := hex.EncodeToString(n[:])
	q, err := CanonicalQuery(req.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("query string: %w", err)
	}
	sig := signature(creds.SecretKey, StringToSign(req.Method, req.URL.Path, q, ts, nonce, body))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s, Signature=%s", SignatureScheme, creds.AccessKeyID, sig))
	return nil
}

// SignedRequest is what a server reads from a signed request before it knows the secret.
type SignedRequest struct {
	AccessKeyID string
	Timestamp   time.Time
	Nonce       string
	signature   string
	rawTS       string
}

// ParseSignedRequest reads the signing headers. Errors are UnauthorizedOperation.
func ParseSignedRequest(h http.Header) (*SignedRequest, error) {
	auth := h.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, SignatureScheme+" ")
	if !ok {
		return nil, Errorf(CodeUnauthorizedOperation, "Authorization: missing or not %s", SignatureScheme)
	}
	sr := &SignedRequest{rawTS: h.Get(HeaderTimestamp), Nonce: h.Get(HeaderNonce)}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			sr.AccessKeyID = v
		case "Signature":
			sr.signature = v
		}
	}
	if sr.AccessKeyID == "" || sr.signature == "" {
		return nil, Errorf(CodeUnauthorizedOperation, "Authorization: Credential and Signature are required")
	}
	if !ValidNonce(sr.Nonce) {
		return nil, Errorf(CodeUnauthorizedOperation, "%s: missing or malformed (16-128 characters of A-Z a-z 0-9 - _)", HeaderNonce)
	}
	sec, err := strconv.ParseInt(sr.rawTS, 10, 64)
	if err != nil {
		return nil, Errorf(CodeUnauthorizedOperation, "%s: not a unix time", HeaderTimestamp)
	}
	sr.Timestamp = time.Unix(sec, 0)
	return sr, nil
}

// Verify checks the signature of the request to u (path and query) with the tenant's
// secret, and the timestamp against now. Nonce replay is the server's to track (it owns
// the memory of seen nonces).
func (sr *SignedRequest) Verify(method string, u *url.URL, body []byte, secret string, now time.Time) error {
	skew := now.Sub(sr.Timestamp)
	if skew > MaxClockSkew || skew < -MaxClockSkew {
		return Errorf(CodeUnauthorizedOperation, "%s: outside the allowed clock skew", HeaderTimestamp)
	}
	q, err := CanonicalQuery(u.RawQuery)
	if err != nil {
		return Errorf(CodeUnauthorizedOperation, "query string: %v", err)
	}
	want := signature(secret, StringToSign(method, u.Path, q, sr.rawTS, sr.Nonce, body))
	if !hmac.Equal([]byte(want), []byte(sr.signature)) {
		return Errorf(CodeUnauthorizedOperation, "signature does not match")
	}
	return nil
}
