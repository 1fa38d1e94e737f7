package iaassim

import (
	"net/http"
	"strings"
)

// serveTCMetadata is the fake of the CVM metadata service (GET
// /latest/meta-data/<path>, plain text, unsigned), answered for the instance whose
// private IP is the caller's source address, like the native metadata endpoint.
func (s *Server) serveTCMetadata(w http.ResponseWriter, r *http.Request) {
	peer, ok := peerAddr(r)
	var in *instanceRec
	if ok {
		in = s.instanceByIP(peer)
	}
	if in == nil || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	var v string
	switch strings.TrimPrefix(r.URL.Path, "/latest/meta-data/") {
	case "instance-id":
		v = in.InstanceID
	case "placement/zone":
		v = in.Zone
	case "placement/region":
		v = in.Region
	case "local-ipv4":
		v = peer.String()
	case "instance/instance-type":
		v = in.InstanceType
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(v))
}
