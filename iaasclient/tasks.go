package iaasclient

import (
	"context"
	"fmt"
	"time"

	"k8s.io/klog/v2"
)

// WaitTask implements TaskAPI: it polls DescribeTask, every TaskPollInitial at first
// and then half again as long each time up to TaskPollMax, until the task ends or ctx
// is done. A FAILED task returns the task and its *Error, unwrapped, so errors.Is and
// CodeOf see the code the work failed with. Errors of DescribeTask itself (after its
// own retries) end the wait.
func (c *Client) WaitTask(ctx context.Context, taskID string) (*Task, error) {
	if taskID == "" {
		return nil, fmt.Errorf("iaas WaitTask: %w", Errorf(CodeInvalidParameter, "taskId: required"))
	}
	logger := klog.FromContext(ctx)
	wait := c.cfg.TaskPollInitial
	for {
		resp, err := c.DescribeTask(ctx, &DescribeTaskRequest{TaskID: taskID})
		if err != nil {
			return nil, err
		}
		t := resp.Task
		switch t.State {
		case TaskSucceeded:
			return &t, nil
		case TaskFailed:
			if t.Error == nil {
				return &t, &Error{Code: CodeInternalError, Message: fmt.Sprintf("task %s failed without an error", taskID), RequestID: resp.RequestID}
			}
			return &t, t.Error
		}
		logger.V(5).Info("IaaS task running", "taskId", taskID, "action", t.Action, "resourceId", t.ResourceID, "wait", wait)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("iaas WaitTask %s: %w", taskID, ctx.Err())
		case <-timer.C:
		}
		wait = min(wait*3/2, c.cfg.TaskPollMax)
	}
}

// RunTask waits for the task a call started: RunTask(ctx, c, c.AttachDisk(ctx, req)).
func RunTask(ctx context.Context, api TaskAPI, resp *TaskResponse, err error) (*Task, error) {
	if err != nil {
		return nil, err
	}
	return api.WaitTask(ctx, resp.TaskID)
}
