package lb

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestParseListener(t *testing.T) {
	good := iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolTCP, Port: 80,
		Backends:     []iaasclient.Backend{{IP: "10.0.0.1", Port: 30080}, {IP: "10.0.0.2", Port: 30080, Weight: 5}},
		SourceRanges: []string{"192.168.1.7/24"}, SessionAffinity: iaasclient.SessionAffinityClientIP}
	c, err := parseListener(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.backends[0].weight != DefaultWeight || c.backends[1].weight != 5 || !c.affinity || c.affinityTimeout != DefaultAffinityTimeout {
		t.Fatalf("parsed %+v", c)
	}
	if !c.allowed(netip.MustParseAddr("192.168.1.200")) || c.allowed(netip.MustParseAddr("192.168.2.1")) {
		t.Fatal("source ranges")
	}
	if !c.health.enabled || c.health.http || c.health.interval != DefaultInterval {
		t.Fatalf("default health %+v", c.health)
	}
	udp := good
	udp.Protocol = iaasclient.ProtocolUDP
	if c, _ := parseListener(udp); c.health.enabled {
		t.Fatal("UDP listener without a check must not TCP-probe its UDP port")
	}
	for name, mut := range map[string]func(*iaasclient.ListenerSpec){
		"port":       func(s *iaasclient.ListenerSpec) { s.Port = 0 },
		"protocol":   func(s *iaasclient.ListenerSpec) { s.Protocol = "SCTP" },
		"backend ip": func(s *iaasclient.ListenerSpec) { s.Backends = []iaasclient.Backend{{IP: "x", Port: 1}} },
		"range":      func(s *iaasclient.ListenerSpec) { s.SourceRanges = []string{"nope"} },
		"pp on udp": func(s *iaasclient.ListenerSpec) {
			s.Protocol, s.ProxyProtocol = iaasclient.ProtocolUDP, iaasclient.ProxyProtocolV2
		},
		"pp v1":    func(s *iaasclient.ListenerSpec) { s.ProxyProtocol = "v1" },
		"hc proto": func(s *iaasclient.ListenerSpec) { s.HealthCheck = &iaasclient.HealthCheck{Protocol: "ICMP"} },
		"neg weight": func(s *iaasclient.ListenerSpec) {
			s.Backends = []iaasclient.Backend{{IP: "10.0.0.1", Port: 1, Weight: -1}}
		},
	} {
		s := good
		mut(&s)
		if _, err := parseListener(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A backend that never passes stops being probed at the warm-up pace after
// warmupWindow; one that appears later warms up on its own clock.
func TestHealthWarmupEnds(t *testing.T) {
	h := newHealth()
	clock := time.Unix(1000, 0)
	h.now = func() time.Time { return clock }
	p := healthParams{healthy: 2, unhealthy: 3}
	h.record("never", false, p)
	clock = clock.Add(warmupWindow - time.Second)
	if !h.warming() {
		t.Fatal("within the window a backend that never passed is warming up")
	}
	h.record("never", false, p)
	clock = clock.Add(2 * time.Second)
	if h.warming() {
		t.Fatal("after the window a backend that never passed is checked at the normal interval")
	}
	h.record("late", false, p)
	if !h.warming() {
		t.Fatal("a backend first checked now warms up, whatever the others did")
	}
}

func TestHealthThresholds(t *testing.T) {
	h := newHealth()
	p := healthParams{healthy: 2, unhealthy: 3}
	if !h.healthy("a") {
		t.Fatal("unknown backend must count as healthy")
	}
	if changed, now := h.record("a", false, p); !changed || now {
		t.Fatal("first failure decides")
	}
	if !h.warming() {
		t.Fatal("a backend that never passed is warming up")
	}
	if changed, now := h.record("a", true, p); !changed || !now {
		t.Fatal("the first success of a backend that never passed makes it healthy at once")
	}
	if h.warming() {
		t.Fatal("a backend that passed once is no longer warming up")
	}
	h.record("a", false, p)
	h.record("a", false, p)
	if !h.healthy("a") {
		t.Fatal("two failures are below the unhealthy threshold")
	}
	if changed, now := h.record("a", false, p); !changed || now {
		t.Fatal("three failures flip to unhealthy")
	}
	// Once it has been healthy, coming back takes the healthy threshold (no flapping).
	if changed, _ := h.record("a", true, p); changed {
		t.Fatal("one success is below the healthy threshold")
	}
	if changed, now := h.record("a", true, p); !changed || !now {
		t.Fatal("two successes flip to healthy")
	}
}

func TestPickWeightsAndAffinity(t *testing.T) {
	c, _ := parseListener(iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolTCP, Port: 80, Backends: []iaasclient.Backend{
		{IP: "10.0.0.1", Port: 1, Weight: 1}, {IP: "10.0.0.2", Port: 1, Weight: 3}}})
	l := newListener("lb", "l", c)
	n := map[string]int{}
	for range 4000 {
		b, ok := l.pick(c, netip.MustParseAddr("1.2.3.4"), nil)
		if !ok {
			t.Fatal("no backend")
		}
		n[b.key]++
	}
	if r := float64(n["10.0.0.2:1"]) / float64(n["10.0.0.1:1"]); r < 2.4 || r > 3.7 {
		t.Fatalf("weights 1:3 gave %v", n)
	}
	if _, ok := l.pick(c, netip.MustParseAddr("1.2.3.4"), map[string]bool{"10.0.0.1:1": true, "10.0.0.2:1": true}); ok {
		t.Fatal("picked a tried backend")
	}
	l.health.record("10.0.0.2:1", false, c.health)
	for range 100 {
		if b, _ := l.pick(c, netip.MustParseAddr("1.2.3.4"), nil); b.key != "10.0.0.1:1" {
			t.Fatal("picked an unhealthy backend")
		}
	}
	c.affinity = true
	first, _ := l.pick(c, netip.MustParseAddr("9.9.9.9"), nil)
	for range 50 {
		if b, _ := l.pick(c, netip.MustParseAddr("9.9.9.9"), nil); b.key != first.key {
			t.Fatal("affinity broken")
		}
	}
}

func TestProxyV2Header(t *testing.T) {
	h := proxyV2Header(netip.MustParseAddrPort("10.1.2.3:40000"), netip.MustParseAddrPort("172.31.0.2:443"))
	want := "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x0a\x01\x02\x03\xac\x1f\x00\x02\x9c\x40\x01\xbb"
	if string(h) != want {
		t.Fatalf("header % x", h)
	}
	h6 := proxyV2Header(netip.MustParseAddrPort("[fd00::1]:1"), netip.MustParseAddrPort("[fd00::2]:2"))
	if len(h6) != 16+36 || h6[13] != 0x21 {
		t.Fatalf("v6 header % x", h6)
	}
}

func TestRenderNft(t *testing.T) {
	m := &Manager{cfg: Config{NftTable: "t", Kernel: true}, lbs: map[string]*loadBalancer{}}
	mk := func(spec iaasclient.ListenerSpec) *listener {
		c, err := parseListener(spec)
		if err != nil {
			t.Fatal(err)
		}
		l := newListener("lb-1", "x", c)
		l.kernel = true
		return l
	}
	web := mk(iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolTCP, Port: 80, SourceRanges: []string{"10.0.0.0/8"},
		Backends: []iaasclient.Backend{{IP: "172.30.0.2", Port: 30080}, {IP: "172.30.0.3", Port: 30080, Weight: 20}}})
	dns := mk(iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolUDP, Port: 53, SessionAffinity: iaasclient.SessionAffinityClientIP,
		Backends: []iaasclient.Backend{{IP: "172.30.0.2", Port: 30053}, {IP: "172.30.0.3", Port: 30053}}})
	down := mk(iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolTCP, Port: 81,
		Backends: []iaasclient.Backend{{IP: "172.30.0.9", Port: 1}}})
	down.health.record("172.30.0.9:1", false, down.cfg.Load().health)
	v6only := mk(iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolTCP, Port: 82, SourceRanges: []string{"fd00::/8"},
		Backends: []iaasclient.Backend{{IP: "172.30.0.2", Port: 1}, {IP: "fd00::1", Port: 1}}})
	mixed := mk(iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolTCP, Port: 83, SourceRanges: []string{"fd00::/8", "10.1.0.0/16"},
		Backends: []iaasclient.Backend{{IP: "172.30.0.2", Port: 1}, {IP: "fd00::1", Port: 1}}})
	m.lbs["lb-1"] = &loadBalancer{vip: netip.MustParseAddr("172.31.0.2"), listeners: map[string]*listener{"a": web, "b": dns, "c": down, "d": v6only, "e": mixed}}
	got := m.renderNft()
	for _, want := range []string{
		"table ip t {}\ndelete table ip t\ntable ip t {",
		"ip daddr 172.31.0.2 tcp dport 80 ip saddr { 10.0.0.0/8 } dnat ip to numgen random mod 30 map { 0-9 : 172.30.0.2 . 30080, 10-29 : 172.30.0.3 . 30080 }",
		"ip daddr 172.31.0.2 udp dport 53 dnat ip to jhash ip saddr mod 20 seed 0x6b756265 map { 0-9 : 172.30.0.2 . 30053, 10-19 : 172.30.0.3 . 30053 }",
		"ct status dnat ct original ip daddr { 172.31.0.2 } masquerade",
		"ip daddr 172.31.0.2 tcp dport 83 ip saddr { 10.1.0.0/16 } dnat ip to 172.30.0.2:1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "dport 81") || strings.Contains(got, "dport 82") {
		t.Errorf("a listener without healthy backends has a rule:\n%s", got)
	}
	if strings.Count(got, "dport 80") != 2 {
		t.Errorf("want the rule in prerouting and output:\n%s", got)
	}
}
