package tencentcloud

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Task polls start fast (most CBS and CLB changes finish within a second) and back off
// to taskPollMax, so a long attach costs few Describe calls.
const (
	taskPollMin = 50 * time.Millisecond
	taskPollMax = time.Second
)

// settleGrace: how long after AttachDisks / DetachDisks a disk may still show its old
// state before the task calls the change lost (CBS moves it to ATTACHING/DETACHING at
// once; the grace covers a read that raced the write).
const settleGrace = 10 * time.Second

// instancesTask names a wait for instances to reach a state.
func instancesTask(want ic.InstanceState, ids []string) string {
	return "instances:" + string(want) + ":" + strings.Join(ids, ",")
}

// diskCreatedTask waits for a new disk to be listed UNATTACHED; tmpSnapshot (a
// clone's) is deleted then.
func diskCreatedTask(diskID, tmpSnapshot string) string {
	return "disk-created:" + diskID + ":" + tmpSnapshot
}

func diskAttachTask(diskID, instanceID string, at time.Time) string {
	return "disk-attached:" + diskID + ":" + instanceID + ":" + strconv.FormatInt(at.Unix(), 10)
}

func diskDetachTask(diskID, instanceID string, at time.Time) string {
	return "disk-detached:" + diskID + ":" + instanceID + ":" + strconv.FormatInt(at.Unix(), 10)
}

func diskResizeTask(diskID string, sizeGiB int) string {
	return "disk-resized:" + diskID + ":" + strconv.Itoa(sizeGiB)
}

func snapshotTask(id string) string { return "snapshot:" + id }

// DescribeTask reports a task of this package: it polls once.
func (c *Client) DescribeTask(ctx context.Context, req *ic.DescribeTaskRequest) (*ic.DescribeTaskResponse, error) {
	t, err := c.poll(ctx, req.TaskID)
	if err != nil {
		return nil, err
	}
	return &ic.DescribeTaskResponse{Task: *t}, nil
}

// WaitTask polls until the task ends or ctx is done.
func (c *Client) WaitTask(ctx context.Context, taskID string) (*ic.Task, error) {
	delay := taskPollMin
	for {
		t, err := c.poll(ctx, taskID)
		if err != nil {
			return nil, err
		}
		switch t.State {
		case ic.TaskSucceeded:
			return t, nil
		case ic.TaskFailed:
			return t, t.Error
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		delay = min(2*delay, taskPollMax)
	}
}

func (c *Client) poll(ctx context.Context, taskID string) (*ic.Task, error) {
	kind, rest, _ := strings.Cut(taskID, ":")
	t := &ic.Task{TaskID: taskID, State: ic.TaskRunning}
	fail := func(e *ic.Error) (*ic.Task, error) {
		t.State, t.Error = ic.TaskFailed, e
		return t, nil
	}
	parts := strings.Split(rest, ":")
	switch kind {
	case "instances":
		want, ids, _ := strings.Cut(rest, ":")
		resp, err := c.DescribeInstances(ctx, &ic.DescribeInstancesRequest{InstanceIDs: strings.Split(ids, ",")})
		if err != nil {
			return nil, err
		}
		done := 0
		for _, in := range resp.Instances {
			if string(in.State) == want {
				done++
			}
		}
		// A terminated instance disappears from CVM's answers.
		if done == len(strings.Split(ids, ",")) || (want == string(ic.InstanceTerminated) && len(resp.Instances) == done) {
			t.State = ic.TaskSucceeded
		}
		return t, nil
	case "disk-created", "disk-attached", "disk-detached", "disk-resized":
		if len(parts) < 2 {
			break
		}
		t.ResourceID = parts[0]
		d, err := c.getDisk(ctx, parts[0])
		var e *ic.Error
		if errors.As(err, &e) && e.Code == ic.CodeResourceNotFound {
			if kind == "disk-created" {
				// CBS lists a disk only once it is made.
				return t, nil
			}
			return fail(e)
		}
		if err != nil {
			return nil, err
		}
		return c.pollDisk(ctx, t, kind, parts, d, fail)
	case "clb":
		return c.pollCLB(ctx, t, rest)
	case "snapshot":
		t.ResourceID = rest
		snaps, _, err := c.describeSnapshotsPage(ctx, []string{rest}, nil, 0, 1)
		if err != nil {
			return nil, err
		}
		if len(snaps) == 0 {
			return fail(ic.Errorf(ic.CodeResourceNotFound, "snapshot %s not found", rest))
		}
		switch snaps[0].State {
		case ic.SnapshotAvailable:
			t.State = ic.TaskSucceeded
		case ic.SnapshotError:
			return fail(ic.Errorf(ic.CodeInternalError, "snapshot %s failed", rest))
		}
		return t, nil
	}
	return nil, ic.Errorf(ic.CodeResourceNotFound, "task %q is not a task of the tencentcloud backend", taskID)
}

// pollDisk decides a disk task from the disk's state.
func (c *Client) pollDisk(ctx context.Context, t *ic.Task, kind string, parts []string, d *ic.Disk, fail func(*ic.Error) (*ic.Task, error)) (*ic.Task, error) {
	since := func() time.Duration {
		if len(parts) < 3 {
			return settleGrace
		}
		s, _ := strconv.ParseInt(parts[2], 10, 64)
		return time.Since(time.Unix(s, 0))
	}
	switch kind {
	case "disk-created":
		switch d.State {
		case ic.DiskError:
			return fail(ic.Errorf(ic.CodeInternalError, "disk %s cannot be used (CBS state %s)", d.DiskID, d.State))
		case ic.DiskCreating:
			return t, nil
		}
		if tmp := parts[1]; tmp != "" {
			_, err := c.DeleteSnapshot(ctx, &ic.DeleteSnapshotRequest{SnapshotID: tmp})
			switch {
			case errors.Is(err, ic.ErrInUse):
				return t, nil // the disk is still being filled from it
			case err != nil && !errors.Is(err, ic.ErrNotFound):
				return nil, err
			}
		}
		t.State = ic.TaskSucceeded
	case "disk-attached":
		ins := parts[1]
		switch {
		case d.InstanceID == ins && d.State == ic.DiskAttached:
			t.State = ic.TaskSucceeded
		case d.InstanceID == ins:
		case d.InstanceID != "":
			return fail(ic.Errorf(ic.CodeResourceInUse, "disk %s went to instance %s, not %s", d.DiskID, d.InstanceID, ins))
		case since() > settleGrace:
			return fail(ic.Errorf(ic.CodeInternalError, "disk %s did not attach to %s (it is %s)", d.DiskID, ins, d.State))
		}
	case "disk-detached":
		ins := parts[1]
		switch {
		case d.InstanceID != ins:
			t.State = ic.TaskSucceeded
		case d.State == ic.DiskAttached && since() > settleGrace:
			return fail(ic.Errorf(ic.CodeInternalError, "disk %s did not detach from %s (it is %s)", d.DiskID, ins, d.State))
		}
	case "disk-resized":
		want, _ := strconv.Atoi(parts[1])
		if d.SizeGiB >= want {
			t.State = ic.TaskSucceeded
		}
	}
	return t, nil
}
