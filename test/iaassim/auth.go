package iaassim

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// authenticate checks the signature (with nonce replay protection) and then the TCP
// peer address, before anything is looked up. Headers such as X-Forwarded-For are never
// read: the peer is r.RemoteAddr, the address of the TCP connection.
func (s *Server) authenticate(r *http.Request, body []byte) (*tenant, *iaasclient.Error) {
	sr, err := iaasclient.ParseSignedRequest(r.Header)
	if err != nil {
		return nil, asAPIError(err)
	}
	key, ok := s.keys[sr.AccessKeyID]
	if !ok {
		return nil, errf(iaasclient.CodeUnauthorizedOperation, "Authorization: unknown access key or bad signature")
	}
	now := s.now()
	if err := sr.Verify(r.Method, r.URL, body, key.secret, now); err != nil {
		return nil, asAPIError(err)
	}
	if !s.nonces.remember(sr.AccessKeyID, sr.Nonce, sr.Timestamp, now) {
		return nil, errf(iaasclient.CodeUnauthorizedOperation, "%s: this nonce was already used", iaasclient.HeaderNonce)
	}
	tn := s.tenants[key.tenant]
	peer, ok := peerAddr(r)
	if !ok || !s.sourceAllowed(tn, peer) {
		return nil, errf(iaasclient.CodeUnauthorizedOperation, "source address %s is not an instance of this tenant nor in its admin CIDRs", peerString(peer, ok))
	}
	return tn, nil
}

func asAPIError(err error) *iaasclient.Error {
	if e, ok := err.(*iaasclient.Error); ok {
		return e
	}
	return errf(iaasclient.CodeUnauthorizedOperation, "%v", err)
}

// peerAddr is the TCP peer's IP (IPv4-mapped addresses unmapped).
func peerAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, err2 := net.SplitHostPort(r.RemoteAddr)
		if err2 != nil {
			return netip.Addr{}, false
		}
		a, err3 := netip.ParseAddr(host)
		if err3 != nil {
			return netip.Addr{}, false
		}
		return a.Unmap().WithZone(""), true
	}
	return ap.Addr().Unmap().WithZone(""), true
}

func peerString(a netip.Addr, ok bool) string {
	if !ok {
		return "(unknown)"
	}
	return a.String()
}

// sourceAllowed: the peer address maps to this tenant (ownerOf: one of its admin CIDRs
// or one of its instances that is not TERMINATED, and no other tenant's claim).
func (s *Server) sourceAllowed(tn *tenant, peer netip.Addr) bool {
	o := s.ownerOf(peer)
	return o.conflict == nil && o.tenant == tn.name
}

// instanceByIP finds the one non-TERMINATED instance that has ip as a private IP; nil
// when none has, when several have, or when the address is in two tenants' claims.
func (s *Server) instanceByIP(ip netip.Addr) *instanceRec {
	return s.ownerOf(ip).instance
}

// nonceCache remembers nonces per access key for as long as their timestamp is valid.
type nonceCache struct {
	mu      sync.Mutex
	seen    map[string]time.Time // key\x00nonce -> forget after
	pruneAt int
}

func newNonceCache() *nonceCache {
	return &nonceCache{seen: map[string]time.Time{}, pruneAt: 4096}
}

// remember records the nonce and reports whether it was new.
func (n *nonceCache) remember(accessKey, nonce string, ts, now time.Time) bool {
	k := accessKey + "\x00" + nonce
	n.mu.Lock()
	defer n.mu.Unlock()
	if exp, ok := n.seen[k]; ok && now.Before(exp) {
		return false
	}
	n.seen[k] = ts.Add(iaasclient.MaxClockSkew + time.Second)
	if len(n.seen) >= n.pruneAt {
		for key, exp := range n.seen {
			if !now.Before(exp) {
				delete(n.seen, key)
			}
		}
		n.pruneAt = max(4096, 2*len(n.seen))
	}
	return true
}
