package iaassim

import (
	"net/http"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// serveIdentity answers GET /meta/v1/identity: the instance whose private IP is the
// TCP peer address. Unsigned, like a cloud's link-local metadata service.
func (s *Server) serveIdentity(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	code := "OK"
	defer func() { s.metrics.observe(MetadataAction, code, time.Since(start)) }()
	if r.Method != http.MethodGet {
		code = string(iaasclient.CodeInvalidParameter)
		writeError(w, reqID, validate.Invalid("method", "the metadata endpoint takes GET, not %s", validate.Truncate(r.Method)))
		return
	}
	fd := s.faults.decide(MetadataAction)
	if fd.latency > 0 {
		s.metrics.fault(MetadataAction, "latency")
		select {
		case <-time.After(fd.latency):
		case <-r.Context().Done():
			return
		}
	}
	if fd.throttle || fd.fail {
		e := errf(iaasclient.CodeInternalError, "internal error (injected)")
		kind := "error"
		if fd.throttle {
			e, kind = errf(iaasclient.CodeRequestLimitExceeded, "request limit exceeded (injected)"), "throttle"
			w.Header().Set("Retry-After", "1")
		}
		s.metrics.fault(MetadataAction, kind)
		code = string(e.Code)
		writeError(w, reqID, e)
		return
	}
	peer, ok := peerAddr(r)
	var in *instanceRec
	if ok {
		in = s.instanceByIP(peer)
	}
	if err := s.state.waitAll(); err != nil {
		code = string(err.Code)
		writeError(w, reqID, err)
		return
	}
	if in == nil {
		code = string(iaasclient.CodeResourceNotFound)
		writeError(w, reqID, errf(iaasclient.CodeResourceNotFound, "no instance has the address %s", peerString(peer, ok)))
		return
	}
	writeJSON(w, reqID, &iaasclient.Identity{
		InstanceID: in.InstanceID, Name: in.Name, Zone: in.Zone, Region: in.Region, VpcID: in.VpcID,
		InstanceType: in.InstanceType, PrivateIP: peer.String(), MaxDisks: in.MaxDisks,
	})
}
