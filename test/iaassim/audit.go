package iaassim

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane"
	"github.com/kube-iaas/kube-iaas/test/iaassim/diskaudit"
)

// bucketDiskAudit holds the disk attach/detach audit log, keyed by the bucket's
// sequence (big-endian, so keys sort in the order the records were written).
const bucketDiskAudit = "diskAudit"

// auditDisks records every Attach and Detach of the data plane, before it starts and
// after it ends, in the store. The records are written at the data plane, not at the
// API, because that is where a disk appears in or leaves an instance: a task, the
// restore at start-up and TerminateInstances all come through here. Each record is its
// own fsynced bbolt transaction, so the log survives kill -9 and a crash inside an
// attach leaves its "attach" without an end (which the check counts as attached).
type auditDisks struct {
	dataplane.Disks
	srv *Server
}

func (a *auditDisks) record(diskID, inst string, ev diskaudit.Event, err error) {
	r := diskaudit.Record{Time: a.srv.now().UTC(), DiskID: diskID, InstanceID: inst, Event: ev}
	if err != nil {
		r.Error = err.Error()
	}
	// A failed write is logged, not returned: the audit must not change what it watches.
	if werr := a.srv.state.st.appendAudit(&r); werr != nil {
		a.srv.log().Error(werr, "Writing the disk audit log failed", "disk", diskID, "instance", inst, "event", ev)
	}
}

func (a *auditDisks) Attach(ctx context.Context, diskID string, inst dataplane.InstanceRef) error {
	a.record(diskID, inst.InstanceID, diskaudit.Attach, nil)
	err := a.Disks.Attach(ctx, diskID, inst)
	ev := diskaudit.Attached
	if err != nil {
		ev = diskaudit.AttachFailed
	}
	a.record(diskID, inst.InstanceID, ev, err)
	return err
}

func (a *auditDisks) Detach(ctx context.Context, diskID string, inst dataplane.InstanceRef) error {
	a.record(diskID, inst.InstanceID, diskaudit.Detach, nil)
	err := a.Disks.Detach(ctx, diskID, inst)
	ev := diskaudit.Detached
	if err != nil {
		ev = diskaudit.DetachFailed
	}
	a.record(diskID, inst.InstanceID, ev, err)
	return err
}

func auditKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// appendAudit writes r with the next sequence number (set in r).
func (s *store) appendAudit(r *diskaudit.Record) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketDiskAudit))
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.Seq = seq
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put(auditKey(seq), v)
	})
}

// readAudit returns the records with Seq > since, in order.
func (s *store) readAudit(since uint64) ([]diskaudit.Record, error) {
	out := []diskaudit.Record{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketDiskAudit)).Cursor()
		for k, v := c.Seek(auditKey(since + 1)); k != nil; k, v = c.Next() {
			var r diskaudit.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// pruneAudit drops records older than before (at start-up), so a long-running
// simulator's log stays bounded; the sequence goes on.
func (s *store) pruneAudit(before time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketDiskAudit)).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r diskaudit.Record
			if err := json.Unmarshal(v, &r); err != nil || !r.Time.Before(before) {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// DiskAudit returns the audit records with Seq > since.
func (s *Server) DiskAudit(since uint64) ([]diskaudit.Record, error) {
	return s.state.st.readAudit(since)
}

// adminDiskAudit answers GET /admin/v1/audit/disks[?since=SEQ].
func (s *Server) adminDiskAudit(w http.ResponseWriter, r *http.Request) {
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, newRequestID(), validate.Invalid("since", "%q is not a sequence number", validate.Truncate(v)))
			return
		}
		since = n
	}
	recs, err := s.DiskAudit(since)
	if err != nil {
		writeError(w, newRequestID(), errf(iaasclient.CodeInternalError, "reading the disk audit log: %v", err))
		return
	}
	writeJSON(w, newRequestID(), &diskaudit.Response{Records: recs})
}
