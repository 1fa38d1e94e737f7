package fake

import (
	"context"
	"fmt"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// startTask records a task on resourceID. begin has already applied the intermediate
// state; finish applies the result and fail undoes begin when the task fails. With
// zero task steps the task ends before startTask returns.
func (c *Cloud) startTask(action, resourceID string, finish, fail func()) string {
	t := &task{
		Task: ic.Task{
			TaskID: c.newID("task"), Action: action, ResourceID: resourceID,
			State: ic.TaskRunning, CreatedAt: c.now().UTC(),
		},
		remaining: c.taskSteps,
		finish:    finish,
		fail:      fail,
	}
	if q := c.taskFaults[action]; len(q) > 0 {
		t.injected = q[0]
		c.taskFaults[action] = q[1:]
	}
	c.tasks[t.TaskID] = t
	c.taskOrder = append(c.taskOrder, t.TaskID)
	if c.taskSteps == 0 {
		c.endTask(t)
	}
	return t.TaskID
}

// doneTask records a task that has nothing left to do (attach to the instance a disk
// is already attached to, detach of a detached disk).
// taskResponse is the answer of a call that started task id.
func (c *Cloud) taskResponse(id string) *ic.TaskResponse {
	return &ic.TaskResponse{ResponseMeta: c.meta(), TaskID: id}
}

func (c *Cloud) doneTask(action, resourceID string) string {
	now := c.now().UTC()
	t := &task{Task: ic.Task{
		TaskID: c.newID("task"), Action: action, ResourceID: resourceID,
		State: ic.TaskSucceeded, CreatedAt: now, FinishedAt: &now,
	}}
	c.tasks[t.TaskID] = t
	c.taskOrder = append(c.taskOrder, t.TaskID)
	return t.TaskID
}

func (c *Cloud) endTask(t *task) {
	if t.State != ic.TaskRunning {
		return
	}
	now := c.now().UTC()
	t.FinishedAt = &now
	if t.injected != nil {
		e := *t.injected
		if e.RequestID == "" {
			e.RequestID = c.requestID()
		}
		t.State, t.Error = ic.TaskFailed, &e
		if t.fail != nil {
			t.fail()
		}
		return
	}
	t.State = ic.TaskSucceeded
	if t.finish != nil {
		t.finish()
	}
}

// stepTask advances t by one DescribeTask. Earlier running tasks on the same resource
// end first, because tasks on one resource run in submission order.
func (c *Cloud) stepTask(t *task) {
	if t.State != ic.TaskRunning || c.taskSteps < 0 {
		return
	}
	if t.remaining > 0 {
		t.remaining--
	}
	if t.remaining > 0 {
		return
	}
	for _, id := range c.taskOrder {
		if id == t.TaskID {
			break
		}
		if o := c.tasks[id]; o.ResourceID == t.ResourceID {
			c.endTask(o)
		}
	}
	c.endTask(t)
}

// CompleteTasks ends every running task, in submission order.
func (c *Cloud) CompleteTasks() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range c.taskOrder {
		c.endTask(c.tasks[id])
	}
}

// RunningTasks returns the ids of the tasks not yet ended, in submission order.
func (c *Cloud) RunningTasks() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range c.taskOrder {
		if c.tasks[id].State == ic.TaskRunning {
			out = append(out, id)
		}
	}
	return out
}

// DescribeTask implements iaasclient.TaskAPI.
func (c *Cloud) DescribeTask(ctx context.Context, req *ic.DescribeTaskRequest) (*ic.DescribeTaskResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeTask, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := validate.Required("taskId", req.TaskID); err != nil {
		return nil, c.fail(err)
	}
	t, ok := c.tasks[req.TaskID]
	if !ok {
		return nil, c.fail(validate.NotFound("taskId", "task", req.TaskID))
	}
	c.stepTask(t)
	return &ic.DescribeTaskResponse{ResponseMeta: c.meta(), Task: clone(t.Task)}, nil
}

// WaitTask implements iaasclient.TaskAPI: it calls DescribeTask (so counters, injected
// errors and task steps apply) until the task ends. Retryable injected errors are
// retried, as the real client does; the pause between polls is short because nothing
// here runs in the background.
func (c *Cloud) WaitTask(ctx context.Context, taskID string) (*ic.Task, error) {
	for {
		resp, err := c.DescribeTask(ctx, &ic.DescribeTaskRequest{TaskID: taskID})
		switch {
		case err == nil:
			switch resp.Task.State {
			case ic.TaskSucceeded:
				return &resp.Task, nil
			case ic.TaskFailed:
				if resp.Task.Error == nil {
					return &resp.Task, ic.Errorf(ic.CodeInternalError, "task %s failed without an error", taskID)
				}
				return &resp.Task, resp.Task.Error
			}
		case !retryable(err):
			return nil, err
		}
		if c.taskSteps < 0 && err == nil {
			// Only CompleteTasks can end the task: wait for it rather than spin.
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("waiting for task %s: %w", taskID, ctx.Err())
			case <-time.After(time.Millisecond):
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("waiting for task %s: %w", taskID, err)
		}
	}
}

// retryable says whether the real client would retry err.
func retryable(err error) bool {
	switch ic.CodeOf(err) {
	case ic.CodeRequestLimitExceeded, ic.CodeInternalError:
		return true
	case "":
		// Not an API error: a transport failure, or the caller's ctx (handled by
		// the ctx check of the loop).
		return true
	}
	return false
}
