package fake_test

import (
	"context"
	"errors"
	"fmt"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

// A CSI-style test: a disk attached to a node that then stops, detached (a stopped
// instance is fenced) and attached elsewhere, with one throttled call on the way.
func Example() {
	ctx := context.Background()
	cloud := fake.New()
	a := cloud.AddInstance(ic.Instance{Name: "node-a"})
	b := cloud.AddInstance(ic.Instance{Name: "node-b"})
	disk := cloud.AddDisk(ic.Disk{SizeGiB: 10})

	var api ic.API = cloud // what the code under test receives
	r, err := api.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: disk.DiskID, InstanceID: a.InstanceID})
	if _, err = ic.RunTask(ctx, api, r, err); err != nil {
		panic(err)
	}
	_, err = api.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: disk.DiskID, InstanceID: b.InstanceID})
	fmt.Println("attach elsewhere:", errors.Is(err, ic.ErrInUse))

	cloud.SetInstanceState(a.InstanceID, ic.InstanceStopped)
	cloud.InjectError(ic.ActionDetachDisk, ic.Errorf(ic.CodeRequestLimitExceeded, "slow down"), 1)
	_, err = api.DetachDisk(ctx, &ic.DetachDiskRequest{DiskID: disk.DiskID, InstanceID: a.InstanceID})
	fmt.Println("throttled:", errors.Is(err, ic.ErrThrottled))
	r, err = api.DetachDisk(ctx, &ic.DetachDiskRequest{DiskID: disk.DiskID, InstanceID: a.InstanceID})
	if _, err = ic.RunTask(ctx, api, r, err); err != nil {
		panic(err)
	}
	r, err = api.AttachDisk(ctx, &ic.AttachDiskRequest{DiskID: disk.DiskID, InstanceID: b.InstanceID})
	if _, err = ic.RunTask(ctx, api, r, err); err != nil {
		panic(err)
	}
	d, _ := cloud.Disk(disk.DiskID)
	fmt.Println(d.State, d.InstanceID == b.InstanceID, cloud.Calls(ic.ActionDetachDisk))
	// Output:
	// attach elsewhere: true
	// throttled: true
	// ATTACHED true 2
}
