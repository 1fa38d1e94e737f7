package simtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/dptest"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/router"
	"github.com/kube-iaas/kube-iaas/test/iaassim/diskaudit"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// The crash test's share of the address plan (apart from TestRestartRestoresDataPlane's).
const (
	crashSubnet     = "172.30.12.0/24"
	crashPoolIntern = "172.31.20.0/24"
	crashPoolPublic = "172.31.21.0/24"
	crashCluster    = "10.244.96.0/20"
	// crashWrites is how many write actions are sent in all, kills included.
	crashWrites = 200
)

func crashConfig(prefix string) string {
	return fmt.Sprintf(`
region: sim-1
zones: [sim-1a]
loadBalancerPools: {internal: %s, public: %s}
tenants:
  - name: t1
    accessKeys: [{accessKeyId: AKT1, secretKey: t1-secret}]
    adminCidrs: [127.0.0.1/32]
    quotas: {disks: 1000, diskGiB: 100000, loadBalancers: 1000}
    vpcs:
      - vpcId: vpc-t1
        name: main
        cidrBlock: %s
        routeTables: [{routeTableId: rtb-t1, name: default}]
instanceTenancy:
  - {namePrefix: %q, tenant: t1, vpcId: vpc-t1}
`, crashPoolIntern, crashPoolPublic, crashSubnet, prefix)
}

// crashRun is the state of the test across simulator lives.
type crashRun struct {
	t        *testing.T
	bridge   string
	prefix   string
	dataDir  string
	table    string
	sent     atomic.Int64 // write actions sent (answered or not)
	mu       sync.Mutex
	tasks    map[string]string // acknowledged task id -> action
	counts   map[string]int    // action -> sent
	inst     []string          // instance ids
	instIP   map[string]string // instance id -> private IP
	backends []ic.Backend
	// seen sums what the checks found, to show the data plane was not empty.
	seen struct{ lbs, routes, attached int }
}

// kill -9 at random points of 200 write actions (routes, load balancers, listeners,
// disks, attachments; several at once, so a kill lands inside a request, between the
// answer and the task, inside a task or between tasks), restart on the durable state
// each time, and check that the store (as the API answers it after restart), the data
// plane (host routes, the nftables table and VIPs, loop devices and their device
// links) and the task list agree: every acknowledged task ends, nothing stays in a
// transitional state, and the kernel holds exactly what the store says.
func TestCrashConsistency(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tool := range []string{"nft", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed")
		}
	}
	b := dptest.Backend(t, "crash", crashSubnet)
	r := &crashRun{t: t, bridge: b.Config().Bridge, prefix: b.Config().Prefix, dataDir: filepath.Join(t.TempDir(), "data"),
		table: fmt.Sprintf("kitest_%d_crash", os.Getpid()), tasks: map[string]string{}, counts: map[string]int{}, instIP: map[string]string{}}
	t.Cleanup(r.cleanup)
	for _, n := range []string{"a", "b"} {
		key, ip := dptest.Instance(t, b, n)
		dptest.HTTPServer(t, key, ":8080", n)
		r.backends = append(r.backends, ic.Backend{IP: ip.String(), Port: 8080})
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	kills := 0
	start := time.Now()
	for r.sent.Load() < crashWrites {
		p := r.start()
		api := r.client(p, 5)
		r.discoverInstances(api)
		if kills > 0 {
			r.checkAgreement(api, fmt.Sprintf("after kill %d", kills))
		}
		// Kill after a random number of further writes, plus a random delay, so that
		// the kill lands at any point of a request or task.
		target := min(r.sent.Load()+int64(3+rng.IntN(20)), crashWrites)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 3 {
			wr := rand.New(rand.NewPCG(seed, uint64(kills*10+w+2)))
			wg.Go(func() { r.write(ctx, r.client(p, 1), wr, target) })
		}
		for r.sent.Load() < target {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		p.Kill()
		cancel()
		wg.Wait()
		kills++
	}
	p := r.start()
	api := r.client(p, 5)
	final := r.checkAgreement(api, "at the end")
	t.Logf("%d write actions sent (%v), %d kill -9, %d acknowledged tasks all ended; store, data plane and tasks agreed after every restart "+
		"(summed over the checks: %d LBs, %d routes, %d attached disks); %v",
		r.sent.Load(), r.counts, kills, len(r.tasks), r.seen.lbs, r.seen.routes, r.seen.attached, time.Since(start).Round(time.Second))
	if kills < 5 {
		t.Errorf("only %d kills", kills)
	}
	// The disk audit log survived every kill and never shows a disk on two instances.
	audit, err := p.AdminClient(t).DiskAudit(context.Background(), 0)
	if err != nil {
		t.Fatalf("disk audit: %v", err)
	}
	attaches, detaches := diskaudit.Count(audit)
	if attaches == 0 {
		t.Errorf("the disk audit log has no attach (%d records)", len(audit))
	}
	for _, o := range diskaudit.Overlaps(audit) {
		t.Errorf("double attach: %s", o)
	}
	t.Logf("disk audit: %d attaches, %d detaches, no disk on two instances at once", attaches, detaches)
	if r.seen.lbs == 0 || r.seen.routes == 0 || r.seen.attached == 0 {
		t.Errorf("the checks never saw an LB, a route and an attached disk: %+v", r.seen)
	}
	// The comparison bites: with the simulator down, losing the nftables table (as a
	// reboot would) is a disagreement.
	p.Kill()
	if len(final.lbs) > 0 {
		exec.Command("nft", "delete", "table", "ip", r.table).Run()
		if err := r.compare(final); err == nil || !strings.Contains(err.Error(), "nft") {
			t.Errorf("compare after the nft table was deleted: %v, want a disagreement", err)
		}
	}
}

func (r *crashRun) start() *simproc.Process {
	return simproc.Start(r.t, simproc.Options{ConfigYAML: []byte(crashConfig(r.prefix)), DataDir: r.dataDir, Args: []string{
		"--task-delay=5ms", "--instance-sync-interval=200ms",
		"--instance-backend=netns", "--netns-bridge=" + r.bridge, "--netns-subnet=" + crashSubnet, "--netns-prefix=" + r.prefix,
		"--router=host", "--router-cidrs=" + crashCluster,
		"--lb=kernel", "--lb-nft-table=" + r.table,
		"--disks=loop",
	}})
}

func (r *crashRun) client(p *simproc.Process, attempts int) *ic.Client {
	c, err := ic.New(ic.Config{Endpoint: p.APIURL, Credentials: ic.Credentials{AccessKeyID: "AKT1", SecretKey: "t1-secret"},
		AttemptTimeout: 5 * time.Second, MaxAttempts: attempts, BackoffBase: 10 * time.Millisecond, BackoffCap: 100 * time.Millisecond,
		TaskPollInitial: 10 * time.Millisecond, TaskPollMax: 100 * time.Millisecond})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(c.Close)
	return c
}

func (r *crashRun) discoverInstances(api *ic.Client) {
	dptest.Eventually(r.t, 15*time.Second, "two instances listed", func() error {
		out, err := api.DescribeInstances(context.Background(), &ic.DescribeInstancesRequest{})
		if err != nil {
			return err
		}
		if len(out.Instances) != 2 {
			return fmt.Errorf("%d instances", len(out.Instances))
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.inst = nil
		for _, in := range out.Instances {
			r.inst = append(r.inst, in.InstanceID)
			r.instIP[in.InstanceID] = in.PrivateIPs[0]
		}
		slices.Sort(r.inst)
		return nil
	})
}

// write sends random write actions until target writes were sent in all (or ctx ends:
// the simulator was killed). Failures are expected (a kill, a disk in the wrong state).
func (r *crashRun) write(ctx context.Context, api *ic.Client, rng *rand.Rand, target int64) {
	for ctx.Err() == nil && r.sent.Load() < target {
		r.mu.Lock()
		inst := slices.Clone(r.inst)
		r.mu.Unlock()
		// Read the current objects to pick targets; reads are not counted.
		lbs, _ := api.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{Page: ic.Page{Limit: ic.MaxPageSize}})
		disks, _ := api.DescribeDisks(ctx, &ic.DescribeDisksRequest{Page: ic.Page{Limit: ic.MaxPageSize}})
		rts, _ := api.DescribeRouteTables(ctx, &ic.DescribeRouteTablesRequest{RouteTableIDs: []string{"rtb-t1"}})
		if ctx.Err() != nil || lbs == nil || disks == nil || rts == nil || len(rts.RouteTables) != 1 {
			return
		}
		action, task, err := r.one(ctx, api, rng, inst, lbs.LoadBalancers, disks.Disks, rts.RouteTables[0].Routes)
		if action == "" {
			continue
		}
		r.sent.Add(1)
		r.mu.Lock()
		r.counts[action]++
		if err == nil && task != "" {
			r.tasks[task] = action
		}
		r.mu.Unlock()
	}
}

func (r *crashRun) one(ctx context.Context, api *ic.Client, rng *rand.Rand, inst []string, lbs []ic.LoadBalancer, disks []ic.Disk, routes []ic.Route) (string, string, error) {
	hc := &ic.HealthCheck{Protocol: ic.HealthCheckTCP, IntervalSeconds: 1, TimeoutSeconds: 1, HealthyThreshold: 1, UnhealthyThreshold: 1}
	listener := func() ic.ListenerSpec {
		return ic.ListenerSpec{Protocol: ic.ProtocolTCP, Port: 1000 + rng.IntN(50), Backends: r.backends[:1+rng.IntN(2)], HealthCheck: hc}
	}
	pickLB := func() *ic.LoadBalancer {
		var ok []ic.LoadBalancer
		for _, lb := range lbs {
			if lb.State == ic.LoadBalancerActive {
				ok = append(ok, lb)
			}
		}
		if len(ok) == 0 {
			return nil
		}
		return &ok[rng.IntN(len(ok))]
	}
	pickDisk := func(state ic.DiskState) *ic.Disk {
		var ok []ic.Disk
		for _, d := range disks {
			if d.State == state {
				ok = append(ok, d)
			}
		}
		if len(ok) == 0 {
			return nil
		}
		return &ok[rng.IntN(len(ok))]
	}
	tok := fmt.Sprintf("crash-%d", rng.Uint64())
	switch rng.IntN(11) {
	case 0, 1:
		dst := fmt.Sprintf("10.244.%d.0/24", 96+rng.IntN(16))
		_, err := api.CreateRoutes(ctx, &ic.CreateRoutesRequest{RouteTableID: "rtb-t1", ClientToken: tok,
			Routes: []ic.RouteSpec{{DestinationCidr: dst, NextHopInstanceID: inst[rng.IntN(len(inst))]}}})
		return ic.ActionCreateRoutes, "", err
	case 2:
		if len(routes) == 0 {
			return "", "", nil
		}
		_, err := api.DeleteRoutes(ctx, &ic.DeleteRoutesRequest{RouteTableID: "rtb-t1", RouteIDs: []string{routes[rng.IntN(len(routes))].RouteID}})
		return ic.ActionDeleteRoutes, "", err
	case 3:
		if len(lbs) >= 6 {
			return "", "", nil
		}
		resp, err := api.CreateLoadBalancer(ctx, &ic.CreateLoadBalancerRequest{Name: "crash", Type: ic.LoadBalancerInternal, VpcID: "vpc-t1",
			ClientToken: tok, Listeners: []ic.ListenerSpec{listener()}})
		return ic.ActionCreateLoadBalancer, taskOf(resp, err, func() string { return resp.TaskID }), err
	case 4:
		lb := pickLB()
		if lb == nil {
			return "", "", nil
		}
		resp, err := api.CreateListeners(ctx, &ic.CreateListenersRequest{LoadBalancerID: lb.LoadBalancerID, ClientToken: tok, Listeners: []ic.ListenerSpec{listener()}})
		return ic.ActionCreateListeners, taskOf(resp, err, func() string { return resp.TaskID }), err
	case 5:
		lb := pickLB()
		if lb == nil || len(lb.Listeners) == 0 {
			return "", "", nil
		}
		l := lb.Listeners[rng.IntN(len(lb.Listeners))]
		spec := l.ListenerSpec
		spec.Backends = r.backends[:1+rng.IntN(2)]
		resp, err := api.ModifyListener(ctx, &ic.ModifyListenerRequest{LoadBalancerID: lb.LoadBalancerID, ListenerID: l.ListenerID, Listener: spec})
		return ic.ActionModifyListener, taskOf(resp, err, func() string { return resp.TaskID }), err
	case 6:
		lb := pickLB()
		if lb == nil {
			return "", "", nil
		}
		if len(lb.Listeners) > 0 && rng.IntN(2) == 0 {
			resp, err := api.DeleteListeners(ctx, &ic.DeleteListenersRequest{LoadBalancerID: lb.LoadBalancerID, ListenerIDs: []string{lb.Listeners[0].ListenerID}})
			return ic.ActionDeleteListeners, taskOf(resp, err, func() string { return resp.TaskID }), err
		}
		resp, err := api.DeleteLoadBalancer(ctx, &ic.DeleteLoadBalancerRequest{LoadBalancerID: lb.LoadBalancerID})
		return ic.ActionDeleteLoadBalancer, taskOf(resp, err, func() string { return resp.TaskID }), err
	case 7:
		if len(disks) >= 8 {
			return "", "", nil
		}
		resp, err := api.CreateDisk(ctx, &ic.CreateDiskRequest{Name: "crash", Zone: "sim-1a", SizeGiB: 1, ClientToken: tok})
		return ic.ActionCreateDisk, taskOf(resp, err, func() string { return resp.TaskID }), err
	case 8:
		d := pickDisk(ic.DiskAvailable)
		if d == nil {
			return "", "", nil
		}
		resp, err := api.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: d.DiskID, InstanceID: inst[rng.IntN(len(inst))]})
		return ic.ActionAttachDisk, taskOf(resp, err, func() string { return resp.TaskID }), err
	case 9:
		d := pickDisk(ic.DiskAttached)
		if d == nil {
			return "", "", nil
		}
		resp, err := api.DetachDisk(ctx, &ic.DetachDiskRequest{DiskID: d.DiskID, InstanceID: d.InstanceID})
		return ic.ActionDetachDisk, taskOf(resp, err, func() string { return resp.TaskID }), err
	default:
		d := pickDisk(ic.DiskAvailable)
		if d == nil {
			return "", "", nil
		}
		_, err := api.DeleteDisk(ctx, &ic.DeleteDiskRequest{DiskID: d.DiskID})
		return ic.ActionDeleteDisk, "", err
	}
}

func taskOf[T any](resp *T, err error, id func() string) string {
	if err != nil || resp == nil {
		return ""
	}
	return id()
}

// checkAgreement waits for every acknowledged task to end and every object to leave
// its transitional state, then compares the store with the kernel.
func (r *crashRun) checkAgreement(api *ic.Client, when string) storeState {
	t := r.t
	t.Helper()
	ctx := context.Background()
	r.mu.Lock()
	tasks := make([]string, 0, len(r.tasks))
	for id := range r.tasks {
		tasks = append(tasks, id)
	}
	r.mu.Unlock()
	dptest.Eventually(t, 30*time.Second, when+": every acknowledged task ended", func() error {
		for _, id := range tasks {
			out, err := api.DescribeTask(ctx, &ic.DescribeTaskRequest{TaskID: id})
			if err != nil {
				return fmt.Errorf("task %s (%s): %w", id, r.tasks[id], err)
			}
			if out.Task.State == ic.TaskRunning {
				return fmt.Errorf("task %s (%s) still RUNNING", id, r.tasks[id])
			}
		}
		return nil
	})
	var lbs []ic.LoadBalancer
	var disks []ic.Disk
	var routes []ic.Route
	dptest.Eventually(t, 30*time.Second, when+": no object in a transitional state", func() error {
		l, err := api.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{Page: ic.Page{Limit: ic.MaxPageSize}})
		if err != nil {
			return err
		}
		d, err := api.DescribeDisks(ctx, &ic.DescribeDisksRequest{Page: ic.Page{Limit: ic.MaxPageSize}})
		if err != nil {
			return err
		}
		rt, err := api.DescribeRouteTables(ctx, &ic.DescribeRouteTablesRequest{RouteTableIDs: []string{"rtb-t1"}})
		if err != nil {
			return err
		}
		lbs, disks, routes = l.LoadBalancers, d.Disks, rt.RouteTables[0].Routes
		for _, lb := range lbs {
			if lb.State != ic.LoadBalancerActive && lb.State != ic.LoadBalancerError {
				return fmt.Errorf("LB %s %s", lb.LoadBalancerID, lb.State)
			}
		}
		for _, d := range disks {
			if d.State != ic.DiskAvailable && d.State != ic.DiskAttached && d.State != ic.DiskError {
				return fmt.Errorf("disk %s %s", d.DiskID, d.State)
			}
		}
		return nil
	})
	st := storeState{lbs: lbs, disks: disks, routes: routes}
	dptest.Eventually(t, 10*time.Second, when+": data plane = store", func() error { return r.compare(st) })
	r.mu.Lock()
	r.seen.lbs += len(lbs)
	r.seen.routes += len(routes)
	for _, d := range disks {
		if d.State == ic.DiskAttached {
			r.seen.attached++
		}
	}
	r.mu.Unlock()
	return st
}

// storeState is what the API answered after a restart, once everything settled.
type storeState struct {
	lbs    []ic.LoadBalancer
	disks  []ic.Disk
	routes []ic.Route
}

// compare checks the kernel against st: host routes, VIPs on the bridge and in the
// nftables table, loop devices and device links.
func (r *crashRun) compare(st storeState) error {
	// Routes: the host's proto-149 routes inside the cluster CIDR are exactly the store's.
	want := map[string]string{}
	for _, rt := range st.routes {
		want[rt.DestinationCidr] = r.instIP[rt.NextHopInstanceID]
	}
	got := map[string]string{}
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: router.DefaultProtocol}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return err
	}
	cl := netip.MustParsePrefix(crashCluster)
	for _, rt := range rs {
		if rt.Dst == nil || rt.Gw == nil {
			continue // the unreachable route of the whole CIDR
		}
		if p, err := netip.ParsePrefix(rt.Dst.String()); err == nil && cl.Overlaps(p) && p != cl {
			got[p.String()] = rt.Gw.String()
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("host routes %v, stored %v", got, want)
	}
	// Load balancers: the VIPs on the bridge and in the nftables table are the stored LBs'.
	wantVIPs := []string{}
	for _, lb := range st.lbs {
		wantVIPs = append(wantVIPs, lb.VIP)
	}
	slices.Sort(wantVIPs)
	br, err := netlink.LinkByName(r.bridge)
	if err != nil {
		return err
	}
	addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	onBridge := []string{}
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		for _, pool := range []string{crashPoolIntern, crashPoolPublic} {
			if netip.MustParsePrefix(pool).Contains(ip) {
				onBridge = append(onBridge, ip.String())
			}
		}
	}
	slices.Sort(onBridge)
	if !slices.Equal(onBridge, wantVIPs) {
		return fmt.Errorf("VIPs on the bridge %v, stored %v", onBridge, wantVIPs)
	}
	inNft, err := nftVIPs(r.table)
	if err != nil {
		return err
	}
	if !slices.Equal(inNft, wantVIPs) {
		return fmt.Errorf("VIPs in nft table %s %v, stored %v", r.table, inNft, wantVIPs)
	}
	// Disks: a loop device and a device link exactly for the attached ones; no loop
	// device for an image of a deleted disk.
	stored := map[string]bool{}
	for _, d := range st.disks {
		stored[d.DiskID] = true
		loop := loopOf(filepath.Join(r.dataDir, "disks", d.DiskID+".img"))
		_, linkErr := os.Stat("/dev/disk/by-id/iaas-" + d.DiskID)
		attached := d.State == ic.DiskAttached
		if attached != (loop != "") || attached != (linkErr == nil) {
			return fmt.Errorf("disk %s %s: loop device %q, device link %v", d.DiskID, d.State, loop, linkErr)
		}
	}
	imgs, _ := filepath.Glob(filepath.Join(r.dataDir, "disks", "*.img"))
	for _, img := range imgs {
		id := strings.TrimSuffix(filepath.Base(img), ".img")
		if !stored[id] {
			if loop := loopOf(img); loop != "" {
				return fmt.Errorf("deleted disk %s still on %s", id, loop)
			}
		}
	}
	return nil
}

var nftVIPRe = regexp.MustCompile(`ct original ip daddr \{?\s*([0-9., ]+?)\s*\}? masquerade`)

// nftVIPs reads the VIPs of the masquerade rule of the simulator's table.
func nftVIPs(table string) ([]string, error) {
	out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No such file") {
			return []string{}, nil // never written: no LB yet
		}
		return nil, fmt.Errorf("nft list table: %v %s", err, out)
	}
	vips := []string{}
	if m := nftVIPRe.FindStringSubmatch(string(out)); m != nil {
		for _, v := range strings.Split(m[1], ",") {
			if v = strings.TrimSpace(v); v != "" {
				vips = append(vips, v)
			}
		}
	}
	slices.Sort(vips)
	return vips, nil
}

func loopOf(img string) string {
	out, _ := exec.Command("losetup", "-n", "-O", "NAME", "-j", img).Output()
	return strings.TrimSpace(string(out))
}

// cleanup removes what kill -9 leaves behind: the table, unreachable routes, loop
// devices of the run's images and their links (the bridge goes with dptest.Backend).
func (r *crashRun) cleanup() {
	exec.Command("nft", "delete", "table", "ip", r.table).Run()
	var ps []netip.Prefix
	for _, c := range []string{crashCluster, crashPoolIntern, crashPoolPublic} {
		ps = append(ps, netip.MustParsePrefix(c))
	}
	router.RemoveUnreachable(router.DefaultProtocol, ps...)
	imgs, _ := filepath.Glob(filepath.Join(r.dataDir, "disks", "*.img"))
	for _, img := range imgs {
		os.Remove("/dev/disk/by-id/iaas-" + strings.TrimSuffix(filepath.Base(img), ".img"))
		if loop := loopOf(img); loop != "" {
			exec.Command("losetup", "-d", loop).Run()
		}
	}
}
