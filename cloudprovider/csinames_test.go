package cloudprovider

import (
	"testing"

	"github.com/kube-iaas/kube-iaas/csi"
)

// The sweeper finds the driver's disks by names package csi defines; this package
// keeps its own copies so that the CCM does not link the CSI driver.
func TestCSINamesMatch(t *testing.T) {
	if csiDriverName != csi.DriverName || TagCluster != csi.TagCluster {
		t.Fatalf("driver %q/%q, cluster tag %q/%q", csiDriverName, csi.DriverName, TagCluster, csi.TagCluster)
	}
}
