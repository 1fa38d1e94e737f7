package lb_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/lb"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

func newManager(t *testing.T, bridge string, internal, public string, kernel bool) *lb.Manager {
	t.Helper()
	if kernel {
		if _, err := exec.LookPath("nft"); err != nil {
			testutil.SkipOrFail(t, "nft is not installed (apt-get install nftables)")
		}
	}
	m, err := lb.New(lb.Config{Link: bridge, DialTimeout: time.Second, Pools: map[iaasclient.LoadBalancerType]netip.Prefix{
		iaasclient.LoadBalancerInternal: netip.MustParsePrefix(internal),
		iaasclient.LoadBalancerPublic:   netip.MustParsePrefix(public),
	}, Kernel: kernel, NftTable: fmt.Sprintf("kitest_%d_%s", os.Getpid(), bridge)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Restored(context.Background()); err != nil { // nothing to restore
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(true); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return m
}

func listener(id string, proto iaasclient.Protocol, port int, backends ...iaasclient.Backend) iaasclient.Listener {
	return iaasclient.Listener{ListenerID: id, ListenerSpec: iaasclient.ListenerSpec{Protocol: proto, Port: port, Backends: backends}}
}

func fastHTTPCheck() *iaasclient.HealthCheck {
	return &iaasclient.HealthCheck{Protocol: iaasclient.HealthCheckHTTP, Path: "/healthz", IntervalSeconds: 1,
		TimeoutSeconds: 1, HealthyThreshold: 1, UnhealthyThreshold: 1}
}

// bodies makes n requests from ns through url and counts the answers.
func bodies(t *testing.T, ns, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		b, err := dptest.HTTPGet(ns, url, 3*time.Second)
		if err != nil {
			t.Fatalf("GET %s from %s: %v", url, ns, err)
		}
		got[b]++
	}
	return got
}

// One LB in front of two instances: weighted spreading, health checks that drop a
// stopped instance while traffic keeps flowing, UDP echo, source ranges, session
// affinity, PROXY protocol v2, and listener changes that keep established connections;
// once with the Go proxy for every listener, once with the nftables kernel path.
func TestLoadBalancerProxy(t *testing.T) {
	testLoadBalancer(t, false, "lb", "172.30.3.0/24", "172.31.3.0/24", "172.31.4.0/24")
}

func TestLoadBalancerKernel(t *testing.T) {
	testLoadBalancer(t, true, "lk", "172.30.5.0/24", "172.31.5.0/24", "172.31.6.0/24")
}

func testLoadBalancer(t *testing.T, kernel bool, tag, subnet, internal, public string) {
	b := dptest.Backend(t, tag, subnet)
	m := newManager(t, b.Config().Bridge, internal, public, kernel)
	ctx := context.Background()
	b1, ip1 := dptest.Instance(t, b, "b1")
	b2, ip2 := dptest.Instance(t, b, "b2")
	cl, clIP := dptest.Instance(t, b, "client")
	out, _ := dptest.Instance(t, b, "outsider")
	dptest.HTTPServer(t, b1, ":8080", "b1")
	dptest.HTTPServer(t, b2, ":8080", "b2")
	dptest.UDPEcho(t, b1, ":5353", "b1:")
	dptest.UDPEcho(t, b2, ":5353", "b2:")
	ppl := dptest.Listen(t, b2, "tcp", ":9000") // answers with the PROXY v2 source it got
	go servePPv2(ppl)
	echo := dptest.Listen(t, b2, "tcp", ":7000")
	go serveEcho(echo)

	vip, err := m.AllocateVIP(iaasclient.LoadBalancerInternal, "", nil)
	if err != nil || vip != netip.MustParsePrefix(internal).Addr().Next().Next().String() {
		t.Fatalf("AllocateVIP: %q %v", vip, err)
	}
	http := func(ip netip.Addr) iaasclient.Backend { return iaasclient.Backend{IP: ip.String(), Port: 8080} }
	web := listener("l-web", iaasclient.ProtocolTCP, 80, http(ip1), http(ip2))
	web.HealthCheck = fastHTTPCheck()
	udp := listener("l-udp", iaasclient.ProtocolUDP, 53, iaasclient.Backend{IP: ip1.String(), Port: 5353}, iaasclient.Backend{IP: ip2.String(), Port: 5353})
	// A UDP listener whose backends are checked on another port (as a Service's UDP
	// NodePort is checked on its healthCheckNodePort).
	udpc := listener("l-udp-checked", iaasclient.ProtocolUDP, 54, iaasclient.Backend{IP: ip1.String(), Port: 5353}, iaasclient.Backend{IP: ip2.String(), Port: 5353})
	udpc.HealthCheck = &iaasclient.HealthCheck{Protocol: iaasclient.HealthCheckTCP, Port: 8080, IntervalSeconds: 1, TimeoutSeconds: 1, HealthyThreshold: 1, UnhealthyThreshold: 1}
	src := listener("l-src", iaasclient.ProtocolTCP, 81, http(ip1), http(ip2))
	src.SourceRanges = []string{clIP.String() + "/32"}
	aff := listener("l-aff", iaasclient.ProtocolTCP, 82, http(ip1), http(ip2))
	aff.SessionAffinity = iaasclient.SessionAffinityClientIP
	pp := listener("l-pp", iaasclient.ProtocolTCP, 83, iaasclient.Backend{IP: ip2.String(), Port: 9000})
	pp.ProxyProtocol = iaasclient.ProxyProtocolV2
	ech := listener("l-echo", iaasclient.ProtocolTCP, 84, iaasclient.Backend{IP: ip2.String(), Port: 7000})
	spec := dataplane.LoadBalancerSpec{LoadBalancerID: "lb-test", VIP: vip, Listeners: []iaasclient.Listener{web, udp, udpc, src, aff, pp, ech}}
	if err := m.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(ctx, spec); err != nil { // idempotent
		t.Fatal(err)
	}
	base := "http://" + vip

	t.Run("spreads", func(t *testing.T) {
		got := bodies(t, cl, base+"/", 40)
		if got["b1"] == 0 || got["b2"] == 0 {
			t.Fatalf("answers %v, want both backends", got)
		}
		// A client on the host itself (the CCM, a test) reaches the VIP too.
		if got := bodies(t, "", base+"/", 10); got["b1"]+got["b2"] != 10 {
			t.Fatalf("host client: %v", got)
		}
	})
	t.Run("udp", func(t *testing.T) {
		seen := map[string]bool{}
		for i := range 20 {
			_ = i
			r, err := dptest.UDPRoundTrip(cl, vip+":53", "ping", 2*time.Second)
			if err != nil || !strings.HasSuffix(r, ":ping") {
				t.Fatalf("udp: %q %v", r, err)
			}
			seen[r] = true
		}
		if len(seen) != 2 {
			t.Fatalf("udp answers %v, want both backends", seen)
		}
	})
	t.Run("source ranges", func(t *testing.T) {
		if _, err := dptest.HTTPGet(cl, base+":81/", 2*time.Second); err != nil {
			t.Fatalf("allowed client refused: %v", err)
		}
		if b, err := dptest.HTTPGet(out, base+":81/", 2*time.Second); err == nil {
			t.Fatalf("client outside the source ranges got %q", b)
		}
		if _, err := dptest.HTTPGet(out, base+"/", 2*time.Second); err != nil {
			t.Fatalf("outsider refused on a listener without source ranges: %v", err)
		}
	})
	t.Run("affinity", func(t *testing.T) {
		got := bodies(t, cl, base+":82/", 20)
		if len(got) != 1 {
			t.Fatalf("affinity answers %v, want one backend", got)
		}
	})
	t.Run("proxy protocol v2", func(t *testing.T) {
		c, err := dptest.Dial(cl, "tcp", "", vip+":83", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		want := clIP.String() + " -> " + vip + ":83"
		if err != nil || !strings.HasPrefix(line, clIP.String()+":") || !strings.Contains(line, want[len(clIP.String()):]) {
			t.Fatalf("backend saw %q (%v), want %s", line, err, want)
		}
	})

	// An established connection on an unchanged listener survives a change of others.
	conn, err := dptest.Dial(cl, "tcp", "", vip+":84", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip := func(msg string) error {
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte(msg)); err != nil {
			return err
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, buf); err != nil {
			return err
		}
		if string(buf) != msg {
			t.Fatalf("echo %q, want %q", buf, msg)
		}
		return nil
	}
	if err := roundTrip("one"); err != nil {
		t.Fatal(err)
	}

	// A UDP client that keeps its source port, pinned to b1.
	pinned := ""
	for port := 40000; port < 40040 && pinned == ""; port++ {
		from := fmt.Sprintf("%s:%d", clIP, port)
		if r, err := dptest.UDPRoundTripFrom(cl, from, vip+":54", "q", 2*time.Second); err == nil && r == "b1:q" {
			pinned = from
		}
	}
	if pinned == "" {
		t.Fatal("no source port of the client went to b1")
	}

	t.Run("health check drops a stopped instance", func(t *testing.T) {
		if err := b.Stop(ctx, b1); err != nil {
			t.Fatal(err)
		}
		dptest.Eventually(t, 10*time.Second, "b1 reported unhealthy", func() error {
			for _, s := range m.BackendStatus("lb-test")["l-web"] {
				if s.IP == ip1.String() && !s.Healthy {
					return nil
				}
			}
			return io.ErrNoProgress
		})
		// The kernel path reprograms its rules just after the status flips.
		dptest.Eventually(t, 5*time.Second, "all answers from b2", func() error {
			for range 20 {
				if b, err := dptest.HTTPGet(cl, base+"/", 500*time.Millisecond); err != nil || b != "b2" {
					return fmt.Errorf("answer %q, %v", b, err)
				}
			}
			return nil
		})
		// The pinned UDP flow moves to b2 instead of staying with the stopped b1.
		dptest.Eventually(t, 10*time.Second, "pinned UDP client answered by b2", func() error {
			r, err := dptest.UDPRoundTripFrom(cl, pinned, vip+":54", "q", 300*time.Millisecond)
			if err != nil || r != "b2:q" {
				return fmt.Errorf("answer %q, %v", r, err)
			}
			return nil
		})
		if err := b.Start(ctx, b1); err != nil {
			t.Fatal(err)
		}
		dptest.Eventually(t, 10*time.Second, "b1 healthy again", func() error {
			for _, s := range m.BackendStatus("lb-test")["l-web"] {
				if s.IP == ip1.String() && s.Healthy {
					return nil
				}
			}
			return io.ErrNoProgress
		})
	})

	t.Run("apply keeps unchanged listeners' connections", func(t *testing.T) {
		web.Backends = web.Backends[1:]                       // web: only b2 now
		udp.Port = 5300                                       // udp moves
		spec.Listeners = []iaasclient.Listener{web, udp, ech} // src, aff, pp removed
		if err := m.Apply(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if err := roundTrip("two"); err != nil {
			t.Fatalf("established connection dropped by Apply: %v", err)
		}
		if got := bodies(t, cl, base+"/", 10); got["b2"] != 10 {
			t.Fatalf("answers %v, want only b2", got)
		}
		if _, err := dptest.HTTPGet(cl, base+":81/", time.Second); err == nil {
			t.Fatal("removed listener still serves")
		}
		if _, err := dptest.UDPRoundTrip(cl, vip+":5300", "x", 2*time.Second); err != nil {
			t.Fatalf("moved UDP listener: %v", err)
		}
		st := m.BackendStatus("lb-test")
		if len(st) != 3 || len(st["l-web"]) != 1 {
			t.Fatalf("status %v", st)
		}
	})

	t.Run("remove", func(t *testing.T) {
		if err := m.Remove(ctx, "lb-test"); err != nil {
			t.Fatal(err)
		}
		if err := m.Remove(ctx, "lb-test"); err != nil {
			t.Fatal(err)
		}
		if _, err := dptest.HTTPGet(cl, base+"/", time.Second); err == nil {
			t.Fatal("removed LB still serves")
		}
		if err := roundTrip("three"); err == nil {
			t.Fatal("connection survived the LB's removal")
		}
	})
}

func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { io.Copy(c, c); c.Close() }()
	}
}

// servePPv2 reads a PROXY v2 header (IPv4) and writes "src:port -> dst:port\n".
func servePPv2(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			h := make([]byte, 16+12)
			if _, err := io.ReadFull(c, h); err != nil {
				return
			}
			if string(h[:12]) != "\r\n\r\n\x00\r\nQUIT\n" || h[12] != 0x21 || h[13] != 0x11 || binary.BigEndian.Uint16(h[14:]) != 12 {
				io.WriteString(c, "bad header\n")
				return
			}
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(h[16:20])), binary.BigEndian.Uint16(h[24:]))
			dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(h[20:24])), binary.BigEndian.Uint16(h[26:]))
			io.WriteString(c, src.String()+" -> "+dst.String()+"\n")
		}()
	}
}
