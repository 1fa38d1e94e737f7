package main

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func mustPrefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := parsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// decoded is the part of a conflist the tests look at.
type decoded struct {
	CNIVersion string           `json:"cniVersion"`
	Name       string           `json:"name"`
	Plugins    []map[string]any `json:"plugins"`
}

func decode(t *testing.T, b []byte) decoded {
	t.Helper()
	var d decoded
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return d
}

// ipam returns the ranges and routes of the first plugin as plain values.
func ipam(t *testing.T, d decoded) (ranges [][]hostLocalRange, routes []route) {
	t.Helper()
	b, _ := json.Marshal(d.Plugins[0]["ipam"])
	var v struct {
		Type   string             `json:"type"`
		Ranges [][]hostLocalRange `json:"ranges"`
		Routes []route            `json:"routes"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Type != "host-local" {
		t.Fatalf("ipam type %q", v.Type)
	}
	return v.Ranges, v.Routes
}

func TestConflist(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pod        string
		opts       confOptions
		wantRanges [][]hostLocalRange
		wantRoutes []route
		wantMasq   bool
		wantTypes  []string
	}{
		{
			name: "ptp, no masquerade",
			pod:  "10.245.1.0/24",
			opts: confOptions{PortMap: true},
			wantRanges: [][]hostLocalRange{{{Subnet: "10.245.1.0/24", Gateway: "10.245.1.1",
				RangeStart: "10.245.1.2", RangeEnd: "10.245.1.254"}}},
			wantRoutes: []route{{Dst: "0.0.0.0/0"}},
			wantTypes:  []string{"ptp", "portmap"},
		},
		{
			name: "ptp, masquerade outside the cluster CIDR",
			pod:  "10.245.2.0/24",
			opts: confOptions{Plugin: pluginPTP, ClusterCIDRs: mustPrefixes(t, "10.245.0.0/16")},
			// The IPAM subnet is the cluster CIDR (ptp's ipMasq exempts it), the range
			// stays inside the node's pod CIDR.
			wantRanges: [][]hostLocalRange{{{Subnet: "10.245.0.0/16", Gateway: "10.245.2.1",
				RangeStart: "10.245.2.2", RangeEnd: "10.245.2.254"}}},
			wantRoutes: []route{{Dst: "0.0.0.0/0"}},
			wantMasq:   true,
			wantTypes:  []string{"ptp"},
		},
		{
			name: "dual stack, masquerade",
			pod:  "10.245.3.0/24,fd00:10:245:3::/64",
			opts: confOptions{ClusterCIDRs: mustPrefixes(t, "fd00:10:245::/56,10.245.0.0/16"), PortMap: true},
			wantRanges: [][]hostLocalRange{
				{{Subnet: "10.245.0.0/16", Gateway: "10.245.3.1", RangeStart: "10.245.3.2", RangeEnd: "10.245.3.254"}},
				{{Subnet: "fd00:10:245::/56", Gateway: "fd00:10:245:3::1", RangeStart: "fd00:10:245:3::2",
					RangeEnd: "fd00:10:245:3:ffff:ffff:ffff:fffe"}},
			},
			wantRoutes: []route{{Dst: "0.0.0.0/0"}, {Dst: "::/0"}},
			wantMasq:   true,
			wantTypes:  []string{"ptp", "portmap"},
		},
		{
			name: "bridge",
			pod:  "10.245.4.0/25",
			opts: confOptions{Plugin: pluginBridge, Bridge: "br-pods", MTU: 1450, PortMap: true},
			wantRanges: [][]hostLocalRange{{{Subnet: "10.245.4.0/25", Gateway: "10.245.4.1",
				RangeStart: "10.245.4.2", RangeEnd: "10.245.4.126"}}},
			wantRoutes: []route{{Dst: "0.0.0.0/0"}},
			wantTypes:  []string{"bridge", "portmap"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := conflist(mustPrefixes(t, tc.pod), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, b)
			if d.CNIVersion != cniVersion || d.Name != "kube-iaas" {
				t.Errorf("cniVersion %q name %q", d.CNIVersion, d.Name)
			}
			var types []string
			for _, p := range d.Plugins {
				types = append(types, p["type"].(string))
			}
			if !reflect.DeepEqual(types, tc.wantTypes) {
				t.Errorf("plugins %v, want %v", types, tc.wantTypes)
			}
			ranges, routes := ipam(t, d)
			if !reflect.DeepEqual(ranges, tc.wantRanges) {
				t.Errorf("ranges\n got %+v\nwant %+v", ranges, tc.wantRanges)
			}
			if !reflect.DeepEqual(routes, tc.wantRoutes) {
				t.Errorf("routes %+v, want %+v", routes, tc.wantRoutes)
			}
			if m := d.Plugins[0]["ipMasq"]; m != tc.wantMasq {
				t.Errorf("ipMasq %v, want %v", m, tc.wantMasq)
			}
			if tc.opts.Plugin == pluginBridge {
				p := d.Plugins[0]
				if p["bridge"] != "br-pods" || p["isGateway"] != true || p["mtu"] != float64(1450) {
					t.Errorf("bridge plugin %v", p)
				}
			}
			// No route of its own to anything but the default: other nodes' pod CIDRs
			// are the VPC router's business.
			for _, r := range routes {
				if r.Dst != "0.0.0.0/0" && r.Dst != "::/0" {
					t.Errorf("unexpected route %v", r)
				}
			}
			// Deterministic: the writer compares bytes to decide whether to rewrite.
			again, _ := conflist(mustPrefixes(t, tc.pod), tc.opts)
			if string(again) != string(b) {
				t.Error("two renderings differ")
			}
		})
	}
}

func TestConflistErrors(t *testing.T) {
	for _, tc := range []struct {
		name, pod string
		opts      confOptions
		want      string
	}{
		{"no pod CIDR", "", confOptions{}, "no pod CIDR"},
		{"unknown plugin", "10.0.0.0/24", confOptions{Plugin: "flannel"}, "unknown plugin"},
		{"bridge cannot masquerade", "10.0.0.0/24", confOptions{Plugin: pluginBridge, ClusterCIDRs: mustPrefixes(t, "10.0.0.0/16")}, "needs the ptp"},
		{"outside the cluster CIDR", "10.1.0.0/24", confOptions{ClusterCIDRs: mustPrefixes(t, "10.0.0.0/16")}, "none of the cluster CIDRs"},
		{"cluster CIDR of the other family", "10.0.0.0/24", confOptions{ClusterCIDRs: mustPrefixes(t, "fd00::/48")}, "none of the cluster CIDRs"},
		{"two of one family", "10.0.0.0/24,10.0.1.0/24", confOptions{}, "one IP family"},
		{"too small", "10.0.0.0/31", confOptions{}, "too small"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conflist(mustPrefixes(t, tc.pod), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes(" 10.245.1.7/16 , fd00::1/64,")
	if err != nil {
		t.Fatal(err)
	}
	if joinPrefixes(got) != "10.245.0.0/16,fd00::/64" {
		t.Errorf("got %s", joinPrefixes(got))
	}
	if _, err := parsePrefixes("10.0.0.0"); err == nil {
		t.Error("a bare address was accepted")
	}
}
