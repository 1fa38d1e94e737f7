package sanity

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kube-iaas/kube-iaas/test/sanity/harness"
	"github.com/kube-iaas/kube-iaas/test/testutil"
)

const leaveMessEnv = "KUBE_IAAS_SANITY_LEAVE_MESS"

// TestCleanupAfterFailure runs a child test that attaches, formats and mounts a disk
// and then fails, and checks that nothing of it is left on the host: no mount, no loop
// device, no by-id link, no process.
func TestCleanupAfterFailure(t *testing.T) {
	testutil.RequireRoot(t)
	if os.Getenv(leaveMessEnv) != "" {
		t.Skip("this is the child")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaveMess$", "-test.v")
	cmd.Env = append(os.Environ(), leaveMessEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "failing on purpose") {
		t.Fatalf("the child did not fail as planned: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`MESS_DIR=(\S+) DISK=(\S+) DRIVER_PID=(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("the child did not report its mess:\n%s", out)
	}
	dir, disk := m[1], m[2]
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), dir) {
		t.Errorf("mounts under %s left behind", dir)
	}
	loops, _ := exec.Command("losetup", "--list", "--noheadings", "--output", "BACK-FILE").Output()
	if strings.Contains(string(loops), dir) {
		t.Errorf("loop devices backed by %s left behind:\n%s", dir, loops)
	}
	if _, err := os.Lstat("/dev/disk/by-id/iaas-" + disk); err == nil {
		t.Errorf("/dev/disk/by-id/iaas-%s left behind", disk)
	}
	if _, err := os.Stat(filepath.Join("/proc", m[3])); err == nil {
		if b, _ := os.ReadFile(filepath.Join("/proc", m[3], "cmdline")); strings.Contains(string(b), "iaas-csi-driver") {
			t.Errorf("driver process %s still runs", m[3])
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s left behind", dir)
	}
}

// TestLeaveMess is the child of TestCleanupAfterFailure.
func TestLeaveMess(t *testing.T) {
	if os.Getenv(leaveMessEnv) == "" {
		t.Skip("run by TestCleanupAfterFailure")
	}
	env := harness.Start(t, harness.Options{SimArgs: harness.LoopDisks})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+env.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cc, nc := csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	vc := &csi.VolumeCapability{
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	}
	ni, err := nc.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "mess", VolumeCapabilities: []*csi.VolumeCapability{vc}, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	id := v.GetVolume().GetVolumeId()
	pub, err := cc.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: ni.GetNodeId(), VolumeCapability: vc})
	if err != nil {
		t.Fatal(err)
	}
	staging, target := filepath.Join(env.Dir, "staging"), filepath.Join(env.Dir, "pod", "target")
	if _, err := nc.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: vc, PublishContext: pub.GetPublishContext()}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging, TargetPath: target, VolumeCapability: vc}); err != nil {
		t.Fatal(err)
	}
	t.Logf("MESS_DIR=%s DISK=%s DRIVER_PID=%d", env.Dir, id, env.DriverPID)
	t.Fatal("failing on purpose with a disk attached, formatted and mounted twice")
}
