// Package harness runs the real iaas-csi-driver binary against the real iaas-sim
// process for csi-sanity, and cleans up the driver, its mounts, the disks and their loop
// devices when the test ends, failed or not.
package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"golang.org/x/sys/unix"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
)

// Tenant credentials of the simulator config below.
var creds = iaasclient.Credentials{AccessKeyID: "AKSANITY", SecretKey: "sanity-secret-key"}

// Zone of the one instance, this host.
const Zone = "sim-1a"

// simConfig makes this host (127.0.0.1, the source address of every loopback
// connection) the one static instance of the tenant, so the metadata endpoint answers
// the driver's "who am I" and the tenancy check admits its API calls.
func simConfig(maxDisks int) []byte {
	return fmt.Appendf(nil, `region: sim-1
zones: [sim-1a, sim-1b]
taskDelay: 10ms
tenants:
  - name: sanity
    accessKeys:
      - accessKeyId: %s
        secretKey: %s
    vpcs:
      - name: sanity
        cidrBlock: 127.0.0.0/8
staticInstances:
  - name: this-host
    tenant: sanity
    zone: %s
    privateIps: [127.0.0.1]
    maxDisks: %d
`, creds.AccessKeyID, creds.SecretKey, Zone, maxDisks)
}

// LoopDisks are the simulator flags of its real disk data plane: sparse files on loop
// devices, linked as /dev/disk/by-id/iaas-<id> on this host.
var LoopDisks = []string{"--disks=loop"}

// Options of Start.
type Options struct {
	// FakeMounter runs the driver with --fake-mounter (no root, no devices).
	FakeMounter bool
	// SimArgs are extra iaas-sim flags (the disk data plane).
	SimArgs []string
	// MaxDisks of the instance; it is also what NodeGetInfo reports.
	MaxDisks int
	// DriverArgs are extra driver flags.
	DriverArgs []string
	// TencentCloud runs the driver on its tencentcloud backend (cloud config provider:
	// tencentcloud), pointed at the simulator's Tencent Cloud API 3.0 front-end and its
	// CVM metadata service: the same disks, through CBS's actions and the official SDK.
	TencentCloud bool
}

// TencentCloudAccountID is the account (UIN) of the tencentcloud cloud config: the tag
// service names disks by it.
const TencentCloudAccountID = "100000000001"

// Env is a running simulator and driver.
type Env struct {
	Dir    string // private temporary directory of the run
	Socket string // the driver's CSI socket
	Sim    *simproc.Process
	Client *iaasclient.Client
	// DriverLog is the driver's log file.
	DriverLog string
	// DriverPID is the driver process.
	DriverPID int
}

// RequireLog fails t unless the driver logged every one of the lines (substrings):
// proof that the run did format, mount and grow real devices.
func (e *Env) RequireLog(t testing.TB, lines ...string) {
	t.Helper()
	b, err := os.ReadFile(e.DriverLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if !strings.Contains(string(b), l) {
			t.Errorf("the driver never logged %q", l)
		}
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// DriverBinary is $KUBE_IAAS_BIN/iaas-csi-driver when that exists (make builds it),
// else one built once per test process.
func DriverBinary(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("KUBE_IAAS_BIN"); dir != "" {
		p := filepath.Join(dir, "iaas-csi-driver")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "iaas-csi-driver-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "iaas-csi-driver")
		out, err := exec.Command("go", "build", "-o", buildPath, "github.com/kube-iaas/kube-iaas/cmd/iaas-csi-driver").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build iaas-csi-driver: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Start runs the simulator and the driver (mode all). Cleanups run in reverse order of
// registration: stop the driver, unmount what is left under Dir, detach and delete every
// disk through the API, stop the simulator, detach any loop device still backed by the
// simulator's files, remove Dir.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	if o.MaxDisks == 0 {
		o.MaxDisks = 4
	}
	dir := t.TempDir()
	e := &Env{Dir: dir, Socket: filepath.Join(dir, "csi.sock")}
	dataDir := filepath.Join(dir, "sim-data")
	t.Cleanup(func() { detachLoopsOf(t, dataDir) })
	e.Sim = simproc.Start(t, simproc.Options{ConfigYAML: simConfig(o.MaxDisks), DataDir: dataDir, Args: o.SimArgs})

	var err error
	e.Client, err = iaasclient.New(iaasclient.Config{Endpoint: e.Sim.APIURL, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.deleteAllDisks(t) })
	t.Cleanup(func() { unmountUnder(t, dir) })

	credsFile := filepath.Join(dir, "credentials.yaml")
	if err := os.WriteFile(credsFile, fmt.Appendf(nil, "accessKeyId: %s\nsecretKey: %s\n", creds.AccessKeyID, creds.SecretKey), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--mode=all", "--endpoint=unix://" + e.Socket,
		"--iaas-endpoint=" + e.Sim.APIURL, "--credentials-file=" + credsFile,
		"--v=4",
	}
	if o.TencentCloud {
		args = append(args, "--cloud-config="+e.tencentCloudConfig(t, o.MaxDisks))
	}
	if o.FakeMounter {
		args = append(args, "--fake-mounter", "--fake-device-dir="+filepath.Join(dir, "fake-dev"))
	}
	args = append(args, o.DriverArgs...)
	e.DriverLog = filepath.Join(dir, "driver.log")
	e.DriverPID = startDriver(t, DriverBinary(t), args, e.DriverLog)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(e.Socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the driver did not create %s in 30s", e.Socket)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return e
}

// tencentCloudConfig writes the cloud config of the tencentcloud backend: the
// simulator's region and the tenant's VPC, its API and metadata on the simulator.
func (e *Env) tencentCloudConfig(t testing.TB, maxDisks int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vpcs, err := e.Client.DescribeVpcs(ctx, &iaasclient.DescribeVpcsRequest{})
	if err != nil || len(vpcs.Vpcs) != 1 {
		t.Fatalf("the sanity tenant's VPC: %+v, %v", vpcs, err)
	}
	p := filepath.Join(e.Dir, "cloud-config.yaml")
	// maxDisksPerNode: CVM metadata does not tell it; the simulated instance has fewer
	// than CBS's 20.
	cfg := fmt.Sprintf("provider: tencentcloud\nregion: sim-1\nvpcId: %s\nendpoint: %s\ntencentcloud:\n  accountId: %q\n  metadataURL: %s\n  maxDisksPerNode: %d\n",
		vpcs.Vpcs[0].VpcID, e.Sim.APIURL, TencentCloudAccountID, e.Sim.APIURL, maxDisks)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startDriver(t testing.TB, bin string, args []string, logPath string) int {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		// SIGTERM first: the driver removes its socket on the way out.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				if len(b) > 20000 {
					b = b[len(b)-20000:]
				}
				t.Logf("driver log (pid %d), tail:\n%s", cmd.Process.Pid, b)
			}
		}
	})
	return cmd.Process.Pid
}

// SanityConfig points csi-sanity at the driver, with its paths under Dir.
func (e *Env) SanityConfig() sanity.TestConfig {
	cfg := sanity.NewTestConfig()
	cfg.Address = e.Socket
	cfg.TargetPath = filepath.Join(e.Dir, "target")
	cfg.StagingPath = filepath.Join(e.Dir, "staging")
	// 1 GiB instead of 10: mkfs touches less, the disks are sparse either way.
	cfg.TestVolumeSize = 1 << 30
	cfg.TestNodeVolumeAttachLimit = true
	// The driver's one mutable parameter (VolumeAttributesClass).
	cfg.TestVolumeMutableParameters = map[string]string{"tags": "tier=gold"}
	return cfg
}

// deleteAllDisks detaches and deletes every disk and snapshot the run left behind, so
// the simulator releases their loop devices before it stops.
func (e *Env) deleteAllDisks(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	disks, err := e.Client.DescribeDisks(ctx, &iaasclient.DescribeDisksRequest{Page: iaasclient.Page{Limit: iaasclient.MaxPageSize}})
	if err != nil {
		t.Logf("cleanup: listing disks: %v", err)
		return
	}
	for _, d := range disks.Disks {
		if d.InstanceID != "" {
			if r, err := e.Client.DetachDisk(ctx, &iaasclient.DetachDiskRequest{DiskID: d.DiskID, InstanceID: d.InstanceID}); err == nil {
				_, err = e.Client.WaitTask(ctx, r.TaskID)
				if err != nil {
					t.Logf("cleanup: detaching %s: %v", d.DiskID, err)
				}
			} else {
				t.Logf("cleanup: detaching %s: %v", d.DiskID, err)
			}
		}
	}
	snaps, err := e.Client.DescribeSnapshots(ctx, &iaasclient.DescribeSnapshotsRequest{Page: iaasclient.Page{Limit: iaasclient.MaxPageSize}})
	if err == nil {
		for _, s := range snaps.Snapshots {
			if _, err := e.Client.DeleteSnapshot(ctx, &iaasclient.DeleteSnapshotRequest{SnapshotID: s.SnapshotID}); err != nil {
				t.Logf("cleanup: deleting snapshot %s: %v", s.SnapshotID, err)
			}
		}
	}
	left := 0
	for _, d := range disks.Disks {
		if _, err := e.Client.DeleteDisk(ctx, &iaasclient.DeleteDiskRequest{DiskID: d.DiskID}); err != nil {
			t.Logf("cleanup: deleting %s: %v", d.DiskID, err)
		}
		left++
	}
	if left > 0 {
		t.Logf("cleanup: deleted %d disks the run left behind", left)
	}
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(t testing.TB, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var under []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			under = append(under, fields[4])
		}
	}
	sort.Slice(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
	for _, m := range under {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Logf("cleanup: unmounting %s: %v", m, err)
		} else {
			t.Logf("cleanup: unmounted %s, which the run left mounted", m)
		}
	}
}

// detachLoopsOf frees loop devices still backed by files under dataDir and removes
// their /dev/disk/by-id links: the last line of defence when the simulator died before
// it could detach.
func detachLoopsOf(t testing.TB, dataDir string) {
	out, err := exec.Command("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.HasPrefix(fields[1], dataDir+"/") {
			continue
		}
		id := strings.TrimSuffix(filepath.Base(fields[1]), ".img")
		_ = os.Remove("/dev/disk/by-id/iaas-" + id)
		if err := exec.Command("losetup", "-d", fields[0]).Run(); err != nil {
			t.Logf("cleanup: losetup -d %s: %v", fields[0], err)
		} else {
			t.Logf("cleanup: detached %s (%s), which the run left behind", fields[0], fields[1])
		}
	}
}

// RequireSimCalls fails t unless the simulator answered each action (its counter name,
// e.g. "tc:cbs/CreateDisks" for the Tencent front-end) at least once with success.
func (e *Env) RequireSimCalls(t testing.TB, actions ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cnt iaassim.Counters
	if err := e.Sim.AdminClient(t).Do(ctx, "GET", "/admin/v1/counters", nil, &cnt); err != nil {
		t.Fatal(err)
	}
	for _, a := range actions {
		if c := cnt.Actions[a]; c == nil || c.Codes["OK"] == 0 {
			t.Errorf("the simulator never answered %s with success: %+v", a, c)
		}
	}
}
