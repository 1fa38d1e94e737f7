package iaassim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// state is the in-memory copy of the store. Readers take mu.RLock; a mutation takes
// mu.Lock, stages new record values in a txn and commits it: the maps are updated at
// once (so the next request sees the change) and the writes go to the committer, which
// persists them in order, many txns per fsynced bbolt transaction (group commit).
// Nothing is acknowledged before it is durable: every answer waits until everything it
// could have seen is on disk (waitDurable), and task workers wait before they act.
// If a flush fails, memory is ahead of the disk, so from then on every commit and every
// answer is refused (InternalError) until a restart reloads the store.
type state struct {
	mu          sync.RWMutex
	st          *store
	instances   map[string]*instanceRec
	routeTables map[string]*routeTableRec
	lbs         map[string]*lbRec
	disks       map[string]*diskRec
	snapshots   map[string]*snapshotRec
	tasks       map[string]*taskRec
	tokens      map[string]*tokenRec
	certs       map[string]*certRec
	seq         uint64
	// busyInstances counts running instance tasks per instance id; the backend sync
	// leaves the state of a busy instance to its task.
	busyInstances map[string]int

	// appliedLSN numbers the last txn applied to memory (written under mu).
	appliedLSN atomic.Uint64
	durable    durability
}

// durability is the committer's queue and progress.
type durability struct {
	mu         sync.Mutex
	cond       *sync.Cond
	pending    []batch
	durableLSN uint64
	failed     error
	closed     bool
	done       chan struct{}
}

type batch struct {
	lsn uint64
	ops []op
}

func newState(st *store) (*state, error) {
	s := &state{
		st:            st,
		instances:     map[string]*instanceRec{},
		routeTables:   map[string]*routeTableRec{},
		lbs:           map[string]*lbRec{},
		disks:         map[string]*diskRec{},
		snapshots:     map[string]*snapshotRec{},
		tasks:         map[string]*taskRec{},
		tokens:        map[string]*tokenRec{},
		certs:         map[string]*certRec{},
		busyInstances: map[string]int{},
	}
	if err := loadInto(st, bucketInstances, s.instances); err != nil {
		return nil, err
	}
	if err := loadInto(st, bucketRouteTables, s.routeTables); err != nil {
		return nil, err
	}
	if err := loadInto(st, bucketLBs, s.lbs); err != nil {
		return nil, err
	}
	if err := loadInto(st, bucketDisks, s.disks); err != nil {
		return nil, err
	}
	if err := loadInto(st, bucketSnapshots, s.snapshots); err != nil {
		return nil, err
	}
	if err := loadInto(st, bucketTasks, s.tasks); err != nil {
		return nil, err
	}
	if err := loadInto(st, bucketTokens, s.tokens); err != nil {
		return nil, err
	}
	if err := loadInto(st, bucketCerts, s.certs); err != nil {
		return nil, err
	}
	s.durable.cond = sync.NewCond(&s.durable.mu)
	s.durable.done = make(chan struct{})
	go s.committer()
	for _, t := range s.tasks {
		s.seq = max(s.seq, t.Seq)
		if t.State == iaasclient.TaskRunning {
			for _, id := range t.Params.InstanceIDs {
				s.busyInstances[id]++
			}
		}
	}
	return s, nil
}

func loadInto[T any](st *store, bucket string, m map[string]*T) error {
	return loadAll(st, bucket, func(k string, v *T) { m[k] = v })
}

// txn stages writes; commit persists them and then applies them to memory. The caller
// holds state.mu for writing from the first read it bases the txn on until commit.
type txn struct {
	s   *state
	ops []op
}

func (s *state) begin() *txn { return &txn{s: s} }

func put[T any](tx *txn, bucket string, m map[string]*T, id string, v *T) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // records always marshal
	}
	tx.ops = append(tx.ops, op{bucket: bucket, key: id, val: b, apply: func() { m[id] = v }})
}

func del[T any](tx *txn, bucket string, m map[string]*T, id string) {
	tx.ops = append(tx.ops, op{bucket: bucket, key: id, apply: func() { delete(m, id) }})
}

func (tx *txn) putInstance(v *instanceRec) { put(tx, bucketInstances, tx.s.instances, v.InstanceID, v) }
func (tx *txn) putRouteTable(v *routeTableRec) {
	put(tx, bucketRouteTables, tx.s.routeTables, v.RouteTableID, v)
}
func (tx *txn) putLB(v *lbRec)             { put(tx, bucketLBs, tx.s.lbs, v.LoadBalancerID, v) }
func (tx *txn) delLB(id string)            { del(tx, bucketLBs, tx.s.lbs, id) }
func (tx *txn) putDisk(v *diskRec)         { put(tx, bucketDisks, tx.s.disks, v.DiskID, v) }
func (tx *txn) delDisk(id string)          { del(tx, bucketDisks, tx.s.disks, id) }
func (tx *txn) putSnapshot(v *snapshotRec) { put(tx, bucketSnapshots, tx.s.snapshots, v.SnapshotID, v) }
func (tx *txn) delSnapshot(id string)      { del(tx, bucketSnapshots, tx.s.snapshots, id) }
func (tx *txn) putTask(v *taskRec)         { put(tx, bucketTasks, tx.s.tasks, v.TaskID, v) }
func (tx *txn) putToken(k string, v *tokenRec) {
	put(tx, bucketTokens, tx.s.tokens, k, v)
}
func (tx *txn) delToken(k string) { del(tx, bucketTokens, tx.s.tokens, k) }

// after runs fn in memory once the txn committed (for indexes that are not records).
func (tx *txn) after(fn func()) { tx.ops = append(tx.ops, op{apply: fn}) }

// commit applies the staged writes to memory and queues them for the committer; the
// caller holds mu. It fails (changing nothing) once a flush has failed. The change is
// durable when waitDurable(appliedLSN) returns.
func (tx *txn) commit() *iaasclient.Error {
	s := tx.s
	var durable []op
	for _, o := range tx.ops {
		if o.bucket != "" {
			durable = append(durable, o)
		}
	}
	s.durable.mu.Lock()
	failed, closed := s.durable.failed, s.durable.closed
	s.durable.mu.Unlock()
	if failed != nil || closed {
		return errf(iaasclient.CodeInternalError, "the store is unavailable: %v", failed)
	}
	for _, o := range tx.ops {
		o.apply()
	}
	tx.ops = nil
	if len(durable) == 0 {
		return nil
	}
	lsn := s.appliedLSN.Add(1)
	s.durable.mu.Lock()
	s.durable.pending = append(s.durable.pending, batch{lsn: lsn, ops: durable})
	s.durable.cond.Broadcast()
	s.durable.mu.Unlock()
	return nil
}

// committer writes queued txns in order, as many per bbolt transaction (one fsync) as
// have queued up meanwhile.
func (s *state) committer() {
	defer close(s.durable.done)
	d := &s.durable
	for {
		d.mu.Lock()
		for len(d.pending) == 0 && !d.closed {
			d.cond.Wait()
		}
		if len(d.pending) == 0 {
			d.mu.Unlock()
			return
		}
		todo, failed := d.pending, d.failed
		d.pending = nil
		d.mu.Unlock()
		var err error
		if failed == nil {
			var ops []op
			for _, b := range todo {
				ops = append(ops, b.ops...)
			}
			err = s.st.commit(ops)
		}
		d.mu.Lock()
		if err != nil && d.failed == nil {
			d.failed = err
		}
		if err == nil && failed == nil {
			d.durableLSN = todo[len(todo)-1].lsn
		}
		d.cond.Broadcast()
		d.mu.Unlock()
	}
}

// waitDurable waits until every txn up to lsn is on disk.
func (s *state) waitDurable(lsn uint64) *iaasclient.Error {
	d := &s.durable
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.durableLSN < lsn && d.failed == nil && !(d.closed && len(d.pending) == 0) {
		d.cond.Wait()
	}
	if d.durableLSN >= lsn {
		return nil
	}
	if d.failed != nil {
		return errf(iaasclient.CodeInternalError, "storing the change failed: %v", d.failed)
	}
	return errf(iaasclient.CodeInternalError, "the store is closed")
}

// waitAll waits until everything applied so far is on disk.
func (s *state) waitAll() *iaasclient.Error { return s.waitDurable(s.appliedLSN.Load()) }

// close flushes the queue, stops the committer and closes the store.
func (s *state) close() error {
	s.durable.mu.Lock()
	s.durable.closed = true
	s.durable.cond.Broadcast()
	s.durable.mu.Unlock()
	<-s.durable.done
	return s.st.close()
}

// newID returns prefix + 12 random hex digits, unique among ids for which taken is true.
func newID(prefix string, taken func(string) bool) string {
	for {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(err)
		}
		id := prefix + hex.EncodeToString(b[:])
		if taken == nil || !taken(id) {
			return id
		}
	}
}

func has[T any](m map[string]*T) func(string) bool {
	return func(id string) bool { _, ok := m[id]; return ok }
}

func (tx *txn) putCert(v *certRec) { put(tx, bucketCerts, tx.s.certs, v.CertificateID, v) }
func (tx *txn) delCert(id string)  { del(tx, bucketCerts, tx.s.certs, id) }
