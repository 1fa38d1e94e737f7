package iaassim

import (
	"sync"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// scheduler runs tasks: one worker goroutine per busy queue, tasks of a queue in
// submission order (a queue is a load balancer id, a disk id, or a tenant's instance
// operations), queues in parallel.
type scheduler struct {
	s       *Server
	mu      sync.Mutex
	queues  map[string][]string
	active  map[string]bool
	stopped bool
	wg      sync.WaitGroup
}

func newScheduler(s *Server) *scheduler {
	return &scheduler{s: s, queues: map[string][]string{}, active: map[string]bool{}}
}

// enqueue adds a committed task. Callers hold state.mu (lock order: state.mu, then
// scheduler.mu; workers never hold scheduler.mu while taking state.mu).
func (q *scheduler) enqueue(queue, taskID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return // resumed from the store at the next start
	}
	q.queues[queue] = append(q.queues[queue], taskID)
	if !q.active[queue] {
		q.active[queue] = true
		q.wg.Add(1)
		go q.work(queue)
	}
}

// pending is the number of tasks of queue after the one running now.
func (q *scheduler) pending(queue string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return max(0, len(q.queues[queue])-1)
}

func (q *scheduler) work(queue string) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if q.stopped || len(q.queues[queue]) == 0 {
			delete(q.active, queue)
			delete(q.queues, queue)
			q.mu.Unlock()
			return
		}
		id := q.queues[queue][0]
		q.mu.Unlock()
		if !q.s.execute(id) {
			return // shutting down; the task stays RUNNING in the store
		}
		q.mu.Lock()
		q.queues[queue] = q.queues[queue][1:]
		q.mu.Unlock()
	}
}

func (q *scheduler) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
	q.wg.Wait()
}

// newTask stages a RUNNING task and enqueues it once tx commits.
func (s *Server) newTask(tx *txn, c *call, resourceID, queue string, params taskParams) *taskRec {
	s.state.seq++
	t := &taskRec{
		Tenant: c.tenant.name, Seq: s.state.seq, Queue: queue, Params: params,
		Task: iaasclient.Task{
			TaskID:     newID("task-", has(s.state.tasks)),
			Action:     c.action,
			ResourceID: resourceID,
			State:      iaasclient.TaskRunning,
			CreatedAt:  s.now().UTC(),
		},
	}
	tx.putTask(t)
	tx.after(func() {
		for _, id := range params.InstanceIDs {
			s.state.busyInstances[id]++
		}
		s.sched.enqueue(queue, t.TaskID)
	})
	return t
}

// doneTask stages a task that succeeded at once (a detach of a disk that is attached
// to nothing, a resize to the current size).
func (s *Server) doneTask(tx *txn, c *call, resourceID string) *taskRec {
	s.state.seq++
	now := s.now().UTC()
	t := &taskRec{
		Tenant: c.tenant.name, Seq: s.state.seq,
		Task: iaasclient.Task{
			TaskID: newID("task-", has(s.state.tasks)), Action: c.action, ResourceID: resourceID,
			State: iaasclient.TaskSucceeded, CreatedAt: now, FinishedAt: &now,
		},
	}
	tx.putTask(t)
	return t
}

// execute runs one task: wait out the task delay, do the work, record the end. It
// returns false when the server is shutting down before the end was recorded.
func (s *Server) execute(taskID string) bool {
	s.state.mu.RLock()
	t := s.state.tasks[taskID]
	s.state.mu.RUnlock()
	if t == nil || t.State != iaasclient.TaskRunning {
		return true
	}
	if wait := t.CreatedAt.Add(s.taskDelay).Sub(s.now()); wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-s.ctx.Done():
			timer.Stop()
			return false
		}
	}
	if s.ctx.Err() != nil {
		return false
	}
	// The task and the state it acts on must be durable before the data plane acts, or
	// a crash could leave data plane effects that no record explains.
	if err := s.state.waitAll(); err != nil {
		s.log().Error(err, "Task not run: the store failed", "task", taskID)
		return false
	}
	return s.runTask(t)
}

// complete records the end of t: fn stages the resource changes, then the task's final
// state is staged and everything commits together. A failed commit is retried.
func (s *Server) complete(t *taskRec, terr *iaasclient.Error, fn func(tx *txn)) bool {
	if s.ctx.Err() != nil {
		return false // the data plane call may have been cut short; redo it at restart
	}
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		s.state.mu.Lock()
		cur := s.state.tasks[t.TaskID]
		if cur == nil || cur.State != iaasclient.TaskRunning {
			s.state.mu.Unlock()
			return true
		}
		tx := s.state.begin()
		if fn != nil {
			fn(tx)
		}
		nt := clone(cur)
		now := s.now().UTC()
		nt.FinishedAt = &now
		nt.State = iaasclient.TaskSucceeded
		if terr != nil {
			nt.State = iaasclient.TaskFailed
			nt.Error = terr
		}
		tx.putTask(nt)
		tx.after(func() {
			for _, id := range nt.Params.InstanceIDs {
				if s.state.busyInstances[id]--; s.state.busyInstances[id] <= 0 {
					delete(s.state.busyInstances, id)
				}
			}
		})
		err := tx.commit()
		s.state.mu.Unlock()
		if err == nil {
			s.metrics.task(nt.Action, string(nt.State))
			s.log().V(2).Info("Task finished", "task", nt.TaskID, "action", nt.Action, "resource", nt.ResourceID, "state", nt.State, "err", terr)
			return true
		}
		s.log().Error(err, "Recording a task's end failed; retrying", "task", t.TaskID)
		select {
		case <-time.After(backoff):
		case <-s.ctx.Done():
			return false
		}
	}
}

// dpError turns a data plane error into the task's error.
func dpError(err error) *iaasclient.Error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*iaasclient.Error); ok {
		return e
	}
	return errf(iaasclient.CodeInternalError, "data plane: %v", err)
}

// resume re-queues every RUNNING task in submission order (after a restart).
func (s *Server) resume() {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	var running []*taskRec
	for _, t := range s.state.tasks {
		if t.State == iaasclient.TaskRunning {
			running = append(running, t)
		}
	}
	sortBy(running, func(t *taskRec) uint64 { return t.Seq })
	for _, t := range running {
		s.sched.enqueue(t.Queue, t.TaskID)
	}
	if len(running) > 0 {
		s.log().Info("Resuming unfinished tasks", "count", len(running))
	}
}
