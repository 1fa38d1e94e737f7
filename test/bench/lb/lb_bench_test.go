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
	// CPU time per request of the client (wrk), the backend server and the load
	// balancer's process (0 where it has none: direct, and the kernel path, whose
	// softirq time no process owns). On 2 shared cores the three add up to the limit:
	// req/s vs direct is about (client+server) / (client+server+lb).
	client, server, lb time.Duration
}

// cpuTime is the user+system time of every thread of process pid so far.
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of proc(5)
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	const ticksPerSecond = 100                  // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

var (
	reRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reP50 = regexp.MustCompile(`\s50%\s+([0-9.]+)(us|ms|s)`)
	reP99 = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	reReq = regexp.MustCompile(`([0-9]+) requests in`)
)

func parseDur(m []string) time.Duration {
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
	return time.Duration(v * float64(unit))
}

// wrk measures url from namespace ns; serverPID is the backend's process, lbPID the
// load balancer's (0: none to account).
func wrk(b *testing.B, ns, url string, conns int, d time.Duration, serverPID, lbPID int) result {
	b.Helper()
	threads := min(conns, 2)
	cpu := func(pid int) time.Duration {
		if pid == 0 {
			return 0
		}
		return cpuTime(b, pid)
	}
	server0, lb0 := cpu(serverPID), cpu(lbPID)
	// ip netns exec execs wrk in its own process: its rusage is wrk's.
	cmd := exec.Command("ip", "netns", "exec", ns, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v: %s", err, out)
	}
	server1, lb1 := cpu(serverPID), cpu(lbPID)
	s := string(out)
	m1, m2, m3, m4 := reRPS.FindStringSubmatch(s), reP50.FindStringSubmatch(s), reP99.FindStringSubmatch(s), reReq.FindStringSubmatch(s)
	if m1 == nil || m2 == nil || m3 == nil || m4 == nil || strings.Contains(s, "Non-2xx") || strings.Contains(s, "Socket errors") {
		b.Fatalf("wrk output:\n%s", s)
	}
	rps, _ := strconv.ParseFloat(m1[1], 64)
	n, _ := strconv.ParseInt(m4[1], 10, 64)
	if n == 0 {
		b.Fatalf("wrk made no request:\n%s", s)
	}
	perReq := func(t time.Duration) time.Duration { return t / time.Duration(n) }
	return result{rps: rps, p50: parseDur(m2), p99: parseDur(m3),
		client: perReq(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()),
		server: perReq(server1 - server0), lb: perReq(lb1 - lb0)}
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
	dur := func(f func(result) time.Duration) time.Duration {
		return time.Duration(pick(func(r result) float64 { return float64(f(r)) }))
	}
	return result{rps: pick(func(r result) float64 { return r.rps }),
		p50: dur(func(r result) time.Duration { return r.p50 }), p99: dur(func(r result) time.Duration { return r.p99 }),
		client: dur(func(r result) time.Duration { return r.client }), server: dur(func(r result) time.Duration { return r.server }),
		lb: dur(func(r result) time.Duration { return r.lb })}
}

func start(b *testing.B, name string, args ...string) *exec.Cmd {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // only the process we started
	return cmd
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
	// ip netns exec execs the server: the process started is the server's.
	serverPID := start(b, "ip", "netns", "exec", srv, self).Process.Pid
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
	haproxyPID := start(b, "haproxy", "-db", "-f", cfgFile).Process.Pid
	ha := "http://" + haVIP + "/"
	waitHTTP(b, cl, ha)
	ha7 := "http://" + ha7VIP + "/"
	waitHTTP(b, cl, ha7)

	type row struct {
		name  string
		url   string
		conns int
		lbPID int
	}
	// Our proxies run in this process, which does nothing else while wrk runs.
	benchPID := os.Getpid()
	var rows []row
	for _, c := range []int{1, 64} {
		rows = append(rows, row{"direct", direct, c, 0}, row{"kube-iaas lb, kernel (nftables DNAT)", oursKernel, c, 0},
			row{"kube-iaas lb, Go proxy (splice)", ours, c, benchPID}, row{"haproxy 2.6, mode tcp", ha, c, haproxyPID},
			row{"kube-iaas L7 (HTTP listener, rule /)", oursL7, c, benchPID}, row{"haproxy 2.6, mode http", ha7, c, haproxyPID})
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
			wrk(b, cl, r.url, r.conns, time.Second, serverPID, r.lbPID) // warm-up
		}
		for range rounds {
			for _, r := range rows {
				k := fmt.Sprint(r.name, r.conns)
				all[k] = append(all[k], wrk(b, cl, r.url, r.conns, dur, serverPID, r.lbPID))
			}
		}
	}
	results := map[string]result{}
	for k, rs := range all {
		results[k] = median(rs)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nmedian of %d rounds of %v per target, wrk -c1 -t1 / -c64 -t2, 64-byte HTTP answers\n", rounds, dur)
	fmt.Fprintf(&sb, "\n| target | conns | req/s | p50 | p99 | req/s vs direct | p99 vs direct | CPU/req: client | server | LB |\n|---|---|---|---|---|---|---|---|---|---|\n")
	us := func(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond)) }
	for _, r := range rows {
		res, d := results[fmt.Sprint(r.name, r.conns)], results[fmt.Sprint("direct", r.conns)]
		lbCPU := "-"
		if r.lbPID != 0 {
			lbCPU = us(res.lb)
		}
		fmt.Fprintf(&sb, "| %s | %d | %.0f | %v | %v | %.2f | %.2f | %s | %s | %s |\n", r.name, r.conns, res.rps, res.p50, res.p99,
			res.rps/d.rps, float64(res.p99)/float64(d.p99), us(res.client), us(res.server), lbCPU)
	}
	b.Log(sb.String())
	fmt.Fprintln(os.Stderr, sb.String())
}
