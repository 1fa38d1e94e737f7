package tencentcloud

import (
	"context"
	"strings"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

const taskPoll = 500 * time.Millisecond

// instancesTask names a wait for instances to reach a state.
func instancesTask(want ic.InstanceState, ids []string) string {
	return "instances:" + string(want) + ":" + strings.Join(ids, ",")
}

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
		case <-time.After(taskPoll):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *Client) poll(ctx context.Context, taskID string) (*ic.Task, error) {
	kind, rest, _ := strings.Cut(taskID, ":")
	t := &ic.Task{TaskID: taskID, State: ic.TaskRunning}
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
	}
	return nil, ic.Errorf(ic.CodeResourceNotFound, "task %q is not a task of the tencentcloud backend", taskID)
}
