package iaassim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/diskaudit"
)

// TestDiskAudit: every attach and detach lands in the admin API's audit log, in order,
// with timestamps; the log and its sequence survive a restart; ?since= pages; a bad
// since is a 400.
func TestDiskAudit(t *testing.T) {
	e := newEnv(t, 0)
	c := e.alpha()
	a1, a3 := instanceID(t, c, "127.0.0.11"), instanceID(t, c, "127.0.0.13")
	d := createDisk(t, c, "sim-1a", 1)
	attach := func(inst string) {
		r := must[iaasclient.TaskResponse](t, c, iaasclient.ActionAttachDisk, iaasclient.AttachDiskRequest{DiskID: d, InstanceID: inst})
		waitOK(t, c, r.TaskID)
	}
	detach := func(inst string) {
		r := must[iaasclient.TaskResponse](t, c, iaasclient.ActionDetachDisk, iaasclient.DetachDiskRequest{DiskID: d, InstanceID: inst})
		waitOK(t, c, r.TaskID)
	}
	get := func(query string) (int, []diskaudit.Record) {
		resp, err := http.Get(e.admin.URL + "/admin/v1/audit/disks" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out diskaudit.Response
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Records
	}
	attach(a1)
	detach(a1)
	attach(a3)
	// A refused attach (the disk is on a3) reaches no data plane: no record.
	if _, err := call[iaasclient.TaskResponse](t, c, iaasclient.ActionAttachDisk, iaasclient.AttachDiskRequest{DiskID: d, InstanceID: a1}); err == nil {
		t.Fatal("attach to a second instance was accepted")
	}
	code, recs := get("")
	if code != 200 {
		t.Fatalf("GET audit: %d", code)
	}
	want := []string{"attach " + a1, "attached " + a1, "detach " + a1, "detached " + a1, "attach " + a3, "attached " + a3}
	if len(recs) != len(want) {
		t.Fatalf("records %+v, want %v", recs, want)
	}
	for i, r := range recs {
		if got := fmt.Sprintf("%s %s", r.Event, r.InstanceID); got != want[i] || r.DiskID != d || r.Seq != uint64(i+1) || r.Time.IsZero() {
			t.Fatalf("record %d: %+v, want %s on %s with seq %d", i, r, want[i], d, i+1)
		}
		if i > 0 && r.Time.Before(recs[i-1].Time) {
			t.Fatalf("record %d is older than the one before: %+v", i, recs)
		}
	}
	if o := diskaudit.Overlaps(recs); len(o) != 0 {
		t.Fatalf("overlaps in a clean log: %v", o)
	}

	// A restart re-attaches the attached disk (restore): recorded, same instance, and
	// the earlier records and the sequence survive.
	e.restart()
	code, recs = get("")
	if code != 200 || len(recs) < 8 || recs[6].Event != diskaudit.Attach || recs[6].InstanceID != a3 || recs[6].Seq != 7 {
		t.Fatalf("after restart: %d %+v", code, recs)
	}
	if _, page := get("?since=6"); len(page) != len(recs)-6 || page[0].Seq != 7 {
		t.Fatalf("since=6: %+v", page)
	}
	if code, _ := get("?since=x"); code != http.StatusBadRequest {
		t.Fatalf("since=x: %d, want 400", code)
	}
}
