// Package diskaudit is the simulator's record of every disk attach and detach, as its
// admin API returns it (GET /admin/v1/audit/disks), and the check that no disk was ever
// attached to two instances at once. It has no dependencies so that tests in other
// modules (test/e2e) can use it without the simulator's.
package diskaudit

import (
	"fmt"
	"sort"
	"time"
)

// Event is one step of an attach or a detach in the data plane.
type Event string

const (
	// Attach is written before the data plane starts to attach: from here on the disk may
	// be visible in the instance.
	Attach Event = "attach"
	// Attached: the data plane finished the attach.
	Attached Event = "attached"
	// AttachFailed: the attach failed; the data plane exposed nothing in the instance.
	AttachFailed Event = "attach-failed"
	// Detach is written before the data plane starts to detach.
	Detach Event = "detach"
	// Detached: the device is gone from the instance.
	Detached Event = "detached"
	// DetachFailed: the detach failed; the disk may still be in the instance.
	DetachFailed Event = "detach-failed"
)

// Record is one entry of the audit log. Seq grows by one per record and survives
// restarts of the simulator (it is the bbolt bucket's sequence).
type Record struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	DiskID     string    `json:"diskId"`
	InstanceID string    `json:"instanceId"`
	Event      Event     `json:"event"`
	Error      string    `json:"error,omitempty"`
}

// Response is the admin API's answer.
type Response struct {
	Records []Record `json:"records"`
}

// Overlap is a disk that was (possibly) attached to two instances at once: Second's
// attach began while First's attachment had not ended with a detach.
type Overlap struct {
	DiskID        string
	First, Second string // instance ids
	FirstSince    time.Time
	At            time.Time
	Seq           uint64
}

func (o Overlap) String() string {
	return fmt.Sprintf("disk %s attached to %s (since %s) when the attach to %s began at %s (seq %d)",
		o.DiskID, o.First, o.FirstSince.Format(time.RFC3339Nano), o.Second, o.At.Format(time.RFC3339Nano), o.Seq)
}

// Overlaps replays records in Seq order. An instance holds a disk from the moment an
// attach to it begins until a detach from it ends (or the attach fails): conservative,
// so an attach in flight or a detach that failed or was cut short by a crash counts as
// attached. Every attach that begins while another instance holds the disk is reported.
func Overlaps(records []Record) []Overlap {
	rs := append([]Record(nil), records...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Seq < rs[j].Seq })
	held := map[string]map[string]time.Time{} // disk -> instance -> since
	var out []Overlap
	for _, r := range rs {
		h := held[r.DiskID]
		if h == nil {
			h = map[string]time.Time{}
			held[r.DiskID] = h
		}
		switch r.Event {
		case Attach:
			for inst, since := range h {
				if inst != r.InstanceID {
					out = append(out, Overlap{DiskID: r.DiskID, First: inst, Second: r.InstanceID, FirstSince: since, At: r.Time, Seq: r.Seq})
				}
			}
			if _, ok := h[r.InstanceID]; !ok {
				h[r.InstanceID] = r.Time
			}
		case AttachFailed, Detached:
			delete(h, r.InstanceID)
		}
	}
	return out
}

// Count is the number of attaches (begun) and detaches (ended) in records.
func Count(records []Record) (attaches, detaches int) {
	for _, r := range records {
		switch r.Event {
		case Attach:
			attaches++
		case Detached:
			detaches++
		}
	}
	return attaches, detaches
}
