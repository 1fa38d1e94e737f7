package csi

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// FuzzParseVolumeParams: any StorageClass parameters either parse into a disk the IaaS
// knows how to make, or fail with InvalidArgument; never a panic, never another code.
func FuzzParseVolumeParams(f *testing.F) {
	f.Add("type", "cloud_ssd", "fsType", "xfs", "tags", "team=a,env=prod")
	f.Add("zone", "", "encrypted", "yes", "tags", "=x,,k=")
	f.Add("csi.storage.k8s.io/fstype", "ext4", "typo", "1", "tags", "csi.kube-iaas.io/volume-name=x")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		p, err := parseVolumeParams(map[string]string{k1: v1, k2: v2, k3: v3})
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("error with code %v: %v", status.Code(err), err)
			}
			return
		}
		if _, ok := iaasclient.DiskTypes[p.diskType]; !ok {
			t.Fatalf("accepted disk type %q", p.diskType)
		}
		if p.fsType != "" && checkFsType(p.fsType) != nil {
			t.Fatalf("accepted fsType %q", p.fsType)
		}
	})
}
