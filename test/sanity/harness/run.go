package harness

import (
	"strings"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// ExpectedSkips are the csi-sanity skip messages this driver accepts, with the reason
// each capability is not offered. Any other skip fails the run.
var ExpectedSkips = map[string]string{
	"ControllerPublishVolume.readonly field not supported": "PUBLISH_READONLY: the IaaS attaches disks read-write only; " +
		"read-only access is enforced where it can be, by the node's ro mount (readonly in NodePublish, reader-only access modes)",
	"GroupControllerService not supported": "group (consistency) snapshots: the IaaS snapshots one disk at a time",
	"SNAPSHOT_ACCESSIBILITY_CONSTRAINTS not supported": "snapshots are regional in the IaaS (a disk can be restored from " +
		"one in any zone), so the driver reports no snapshot topology",
}

// Pending specs are csi-sanity's own disabled ones (XIt), not ours to run.
const upstreamPending = "pagination should detect volumes added between pages"

// Run runs csi-sanity with cfg and then checks its report: every spec passed, skipped
// only for a reason in ExpectedSkips, or is upstream's disabled pagination spec.
func Run(t *testing.T, cfg sanity.TestConfig) {
	t.Helper()
	var report types.Report
	ginkgo.ReportAfterSuite("kube-iaas skip check", func(r ginkgo.Report) { report = r })
	sanity.Test(t, cfg)

	counts := map[string]int{}
	reasons := map[string]int{}
	for _, s := range report.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			continue
		}
		switch {
		case s.State.Is(types.SpecStatePassed):
			counts["passed"]++
		case s.State.Is(types.SpecStateSkipped):
			counts["skipped"]++
			msg := s.Failure.Message
			if _, ok := ExpectedSkips[msg]; !ok {
				t.Errorf("spec %q was skipped without an accepted reason: %q", s.FullText(), msg)
			}
			reasons[msg]++
		case s.State.Is(types.SpecStatePending):
			counts["pending"]++
			if !strings.Contains(s.FullText(), upstreamPending) {
				t.Errorf("spec %q is pending", s.FullText())
			}
		default:
			counts["failed"]++
		}
	}
	if counts["passed"] == 0 {
		t.Fatalf("csi-sanity ran no spec")
	}
	t.Logf("csi-sanity: %d passed, %d failed, %d skipped, %d pending (upstream-disabled)",
		counts["passed"], counts["failed"], counts["skipped"], counts["pending"])
	for msg, n := range reasons {
		t.Logf("  skipped %d: %s -- %s", n, msg, ExpectedSkips[msg])
	}
}
