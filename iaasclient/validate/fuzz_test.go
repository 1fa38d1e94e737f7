package validate_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// FuzzRouteValidation: whatever RouteSpecs accepts is canonical CIDRs that
// overlap neither each other nor the existing routes, within the limit.
func FuzzRouteValidation(f *testing.F) {
	f.Add("10.244.0.0/24", "10.244.1.0/24", "10.0.0.0/16", 3)
	f.Add("10.244.0.5/24", "::/0", "", 1)
	f.Add("fd00::/64", "fd00::/48", "192.168.0.0/16", 50)
	f.Add("0.0.0.0/0", "", "1.1.1.1/32", 0)
	f.Add("10.0.0.0/8", "10.0.0.0/8", "", 2)
	f.Add("::ffff:10.0.0.0/104", "10.0.0.0/33", "x", 5)
	f.Fuzz(func(t *testing.T, a, b, existing string, limit int) {
		specs := []iaasclient.RouteSpec{{DestinationCidr: a, NextHopInstanceID: "ins-1"}}
		if b != "" {
			specs = append(specs, iaasclient.RouteSpec{DestinationCidr: b, NextHopInstanceID: "ins-2"})
		}
		var ex []string
		if existing != "" {
			ex = []string{existing}
		}
		err := validate.RouteSpecs(specs, ex, limit)
		if err != nil {
			if !iaasclient.KnownCode(err.Code) || !strings.Contains(err.Message, ":") {
				t.Fatalf("bad refusal %+v", err)
			}
			return
		}
		if len(ex)+len(specs) > limit {
			t.Fatalf("over limit accepted")
		}
		var ps []netip.Prefix
		for _, s := range specs {
			p, perr := netip.ParsePrefix(s.DestinationCidr)
			if perr != nil || p.Masked() != p || p.String() != strings.TrimSpace(p.String()) {
				t.Fatalf("accepted non-canonical %q", s.DestinationCidr)
			}
			if ep, eerr := netip.ParsePrefix(existing); eerr == nil && ep.Overlaps(p) {
				t.Fatalf("accepted %s overlapping existing %s", p, ep)
			}
			for _, q := range ps {
				if q.Overlaps(p) {
					t.Fatalf("accepted overlapping %s and %s", p, q)
				}
			}
			ps = append(ps, p)
		}
	})
}

// FuzzListenerValidation: Listener never panics and accepts only ports in range.
func FuzzListenerValidation(f *testing.F) {
	f.Add("TCP", 80, "10.0.0.1", 30000, 0, "10.0.0.0/8", "")
	f.Add("UDP", 0, "::1", 65536, -1, "bogus", "v2")
	f.Fuzz(func(t *testing.T, proto string, port int, ip string, bport, weight int, src, pp string) {
		l := iaasclient.ListenerSpec{Protocol: iaasclient.Protocol(proto), Port: port,
			Backends:     []iaasclient.Backend{{IP: ip, Port: bport, Weight: weight}},
			SourceRanges: []string{src}, ProxyProtocol: iaasclient.ProxyProtocol(pp)}
		if err := validate.Listener("listeners[0]", &l); err == nil {
			if port < 1 || port > 65535 || bport < 1 || bport > 65535 {
				t.Fatalf("accepted ports %d/%d", port, bport)
			}
			if _, err := netip.ParseAddr(ip); err != nil {
				t.Fatalf("accepted backend ip %q", ip)
			}
		} else if !strings.HasPrefix(err.Message, "listeners[0]") {
			t.Fatalf("message does not name the field: %s", err.Message)
		}
	})
}
