package diskaudit

import (
	"testing"
	"time"
)

func rec(seq uint64, disk, inst string, ev Event) Record {
	return Record{Seq: seq, Time: time.Unix(int64(seq), 0), DiskID: disk, InstanceID: inst, Event: ev}
}

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  []Record
		want int
	}{
		{"attach, detach, attach elsewhere", []Record{
			rec(1, "d", "a", Attach), rec(2, "d", "a", Attached), rec(3, "d", "a", Detach), rec(4, "d", "a", Detached),
			rec(5, "d", "b", Attach), rec(6, "d", "b", Attached)}, 0},
		{"re-attach to the same instance after a restart", []Record{
			rec(1, "d", "a", Attach), rec(2, "d", "a", Attached), rec(3, "d", "a", Attach), rec(4, "d", "a", Attached)}, 0},
		{"failed attach releases", []Record{
			rec(1, "d", "a", Attach), rec(2, "d", "a", AttachFailed), rec(3, "d", "b", Attach)}, 0},
		{"attach elsewhere before the detach ended", []Record{
			rec(1, "d", "a", Attach), rec(2, "d", "a", Attached), rec(3, "d", "a", Detach), rec(4, "d", "b", Attach),
			rec(5, "d", "a", Detached)}, 1},
		{"failed detach still holds", []Record{
			rec(1, "d", "a", Attach), rec(2, "d", "a", Detach), rec(3, "d", "a", DetachFailed), rec(4, "d", "b", Attach)}, 1},
		{"attach in flight holds (crash before attached)", []Record{
			rec(1, "d", "a", Attach), rec(2, "d", "b", Attach)}, 1},
		{"other disks are independent", []Record{
			rec(1, "d1", "a", Attach), rec(2, "d2", "b", Attach)}, 0},
		{"order is by seq, not by position", []Record{
			rec(4, "d", "b", Attach), rec(1, "d", "a", Attach), rec(3, "d", "a", Detached), rec(2, "d", "a", Detach)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Overlaps(tc.log)
			if len(got) != tc.want {
				t.Fatalf("overlaps %v, want %d", got, tc.want)
			}
			for _, o := range got {
				if o.First == o.Second || o.String() == "" {
					t.Fatalf("bad overlap %+v", o)
				}
			}
		})
	}
}

func TestCount(t *testing.T) {
	a, d := Count([]Record{rec(1, "d", "a", Attach), rec(2, "d", "a", Attached), rec(3, "d", "a", Detach), rec(4, "d", "a", Detached), rec(5, "d", "b", Attach)})
	if a != 2 || d != 1 {
		t.Fatalf("attaches %d detaches %d, want 2 1", a, d)
	}
}
