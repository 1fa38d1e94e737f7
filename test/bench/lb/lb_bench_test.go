// Package lb_test benchmarks the simulated IaaS's load balancer data plane: wrk in a
// client namespace against an HTTP backend in an instance namespace, direct, through
// our LB and through haproxy (mode tcp, the same layer-4 job), in one run, and prints
// ratios to direct. Run: make bench, or
//
//	go test -run '^$' -bench . -benchtime 1x ./test/bench/lb/
//
// It needs root, wrk and haproxy (Debian packages wrk, haproxy).
package lb_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/lb"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// backendEnv makes the test binary serve HTTP on its value instead of running tests: the
// backend runs as its own process (in the instance namespace, via ip netns exec), so it
// does not share a Go runtime with the LB under test.
const backendEnv = "KITEST_BENCH_BACKEND"

func TestMain(m *testing.M) {
	if addr := os.Getenv(backendEnv); addr != "" {
		body := strings.Repeat("x", 64)
		err := http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, body)
		}))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

type result struct {
	rps      float64
	p50, p99 time.Duration
}

var (
	reRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reP50 = regexp.MustCompile(`\s50%\s+([0-9.]+)(us|ms|s)`)
	reP99 = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
)

func parseDur(m []string) time.Duration {
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
	return time.Duration(v * float64(unit))
}

func wrk(b *testing.B, ns, url string, conns int, d time.Duration) result {
	b.Helper()
	threads := min(conns, 2)
	out, err := exec.Command("ip", "netns", "exec", ns, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency", url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v: %s", err, out)
	}
	s := string(out)
	m1, m2, m3 := reRPS.FindStringSubmatch(s), reP50.FindStringSubmatch(s), reP99.FindStringSubmatch(s)
	if m1 == nil || m2 == nil || m3 == nil || strings.Contains(s, "Non-2xx") || strings.Contains(s, "Socket errors") {
		b.Fatalf("wrk output:\n%s", s)
	}
	rps, _ := strconv.ParseFloat(m1[1], 64)
	return result{rps: rps, p50: parseDur(m2), p99: parseDur(m3)}
}

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return result{rps: pick(func(r result) float64 { return r.rps }),
		p50: time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99: time.Duration(pick(func(r result) float64 { return float64(r.p99) }))}
}

func start(b *testing.B, name string, args ...string) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // only the process we started
}

func waitHTTP(b *testing.B, ns, url string) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := dptest.HTTPGet(ns, url, time.Second); err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s never answered", url)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func BenchmarkLoadBalancer(b *testing.B) {
	testutil.RequireRoot(b)
	for _, tool := range []string{"wrk", "haproxy", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(b, tool+" is not installed (apt-get install wrk haproxy iproute2)")
		}
	}
	dur := 5 * time.Second
	if v := os.Getenv("KITEST_BENCH_SECONDS"); v != "" {
		n, _ := strconv.Atoi(v)
		dur = time.Duration(n) * time.Second
	}
	be := dptest.Backend(b, "bn", "172.30.9.0/24")
	srv, srvIP := dptest.Instance(b, be, "srv")
	cl, _ := dptest.Instance(b, be, "cl")
	// Two managers: the Go proxy for every listener, and the nftables kernel path.
	newLB := func(pool string, kernel bool) *lb.Manager {
		m, err := lb.New(lb.Config{Link: be.Config().Bridge, Kernel: kernel, NftTable: fmt.Sprintf("kitest_%d_bench", os.Getpid()),
			Pools: map[iaasclient.LoadBalancerType]netip.Prefix{iaasclient.LoadBalancerInternal: netip.MustParsePrefix(pool)}})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Restored(context.Background()); err != nil { // nothing to restore
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close(true) })
		return m
	}
	proxy, kernel := newLB("172.31.9.0/24", false), newLB("172.31.10.0/24", true)

	self, _ := os.Executable()
	os.Setenv(backendEnv, ":8080")
	start(b, "ip", "netns", "exec", srv, self)
	os.Unsetenv(backendEnv)
	direct := "http://" + srvIP.String() + ":8080/"
	waitHTTP(b, cl, direct)

	apply := func(m *lb.Manager, vip string) string {
		spec := dataplane.LoadBalancerSpec{LoadBalancerID: "lb-bench", VIP: vip, Listeners: []iaasclient.Listener{{
			ListenerID: "l-80", ListenerSpec: iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolTCP, Port: 80,
				Backends: []iaasclient.Backend{{IP: srvIP.String(), Port: 8080}}}}}}
		if err := m.Apply(context.Background(), spec); err != nil {
			b.Fatal(err)
		}
		url := "http://" + vip + "/"
		waitHTTP(b, cl, url)
		return url
	}
	ours := apply(proxy, "172.31.9.2")
	oursKernel := apply(kernel, "172.31.10.2")
	// Layer 7: an HTTP listener whose one rule (any host, prefix /) is the backend, as
	// an Ingress path to a NodePort is: the Go reverse proxy parses every request.
	l7VIP := "172.31.9.4"
	if err := proxy.Apply(context.Background(), dataplane.LoadBalancerSpec{LoadBalancerID: "lb-bench-l7", VIP: l7VIP, Listeners: []iaasclient.Listener{{
		ListenerID: "l7-80", ListenerSpec: iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolHTTP, Port: 80, Backends: []iaasclient.Backend{},
			Rules: []iaasclient.L7Rule{{Path: "/", PathType: iaasclient.PathPrefix, Backends: []iaasclient.Backend{{IP: srvIP.String(), Port: 8080}}}}}}}}); err != nil {
		b.Fatal(err)
	}
	oursL7 := "http://" + l7VIP + "/"
	waitHTTP(b, cl, oursL7)

	// haproxy on a second address of the pool, layer 4 like ours, one process, health
	// checks on, logging off.
	haVIP, ha7VIP := "172.31.9.3", "172.31.9.5"
	br, _ := netlink.LinkByName(be.Config().Bridge)
	for _, ip := range []string{haVIP, ha7VIP} {
		addr, _ := netlink.ParseAddr(ip + "/32")
		if err := netlink.AddrAdd(br, addr); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { netlink.AddrDel(br, addr) })
	}
	cfg := fmt.Sprintf(`global
  nbthread 2
  maxconn 4096
defaults
  mode tcp
  timeout connect 3s
  timeout client 60s
  timeout server 60s
frontend f
  bind %s:80
  default_backend b
backend b
  server s1 %s:8080 check inter 5s
frontend f7
  mode http
  bind %s:80
  default_backend b7
backend b7
  mode http
  http-reuse always
  server s1 %s:8080 check inter 5s
`, haVIP, srvIP, ha7VIP, srvIP)
	cfgFile := b.TempDir() + "/haproxy.cfg"
	os.WriteFile(cfgFile, []byte(cfg), 0o644)
	start(b, "haproxy", "-db", "-f", cfgFile)
	ha := "http://" + haVIP + "/"
	waitHTTP(b, cl, ha)
	ha7 := "http://" + ha7VIP + "/"
	waitHTTP(b, cl, ha7)

	type row struct {
		name  string
		url   string
		conns int
	}
	var rows []row
	for _, c := range []int{1, 64} {
		rows = append(rows, row{"direct", direct, c}, row{"kube-iaas lb, kernel (nftables DNAT)", oursKernel, c},
			row{"kube-iaas lb, Go proxy (splice)", ours, c}, row{"haproxy 2.6, mode tcp", ha, c},
			row{"kube-iaas L7 (HTTP listener, rule /)", oursL7, c}, row{"haproxy 2.6, mode http", ha7, c})
	}
	// Rounds interleave the targets, so that load from elsewhere on the machine hits
	// them alike; each figure is the median over the rounds.
	rounds := 3
	if v := os.Getenv("KITEST_BENCH_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	all := map[string][]result{}
	for i := 0; i < b.N; i++ {
		for _, r := range rows {
			wrk(b, cl, r.url, r.conns, time.Second) // warm-up
		}
		for range rounds {
			for _, r := range rows {
				k := fmt.Sprint(r.name, r.conns)
				all[k] = append(all[k], wrk(b, cl, r.url, r.conns, dur))
			}
		}
	}
	results := map[string]result{}
	for k, rs := range all {
		results[k] = median(rs)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nmedian of %d rounds of %v per target, wrk -c1 -t1 / -c64 -t2, 64-byte HTTP answers\n", rounds, dur)
	fmt.Fprintf(&sb, "\n| target | conns | req/s | p50 | p99 | req/s vs direct | p99 vs direct |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		res, d := results[fmt.Sprint(r.name, r.conns)], results[fmt.Sprint("direct", r.conns)]
		fmt.Fprintf(&sb, "| %s | %d | %.0f | %v | %v | %.2f | %.2f |\n", r.name, r.conns, res.rps, res.p50, res.p99,
			res.rps/d.rps, float64(res.p99)/float64(d.p99))
	}
	b.Log(sb.String())
	fmt.Fprintln(os.Stderr, sb.String())
}
