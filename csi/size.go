package csi

import (
	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// sizeGiB picks the disk size for a capacity range: the smallest size the disk type
// allows (a whole multiple of its step, at least its minimum) that is at least
// required_bytes, and at least floorGiB (a source's size). Without a range it is
// floorGiB, or defaultVolumeGiB when there is no source. The result must fit
// limit_bytes and the type's maximum, or the answer is OutOfRange.
func sizeGiB(r *csi.CapacityRange, limits iaasclient.DiskTypeLimits, floorGiB int) (int, error) {
	if err := checkRange(r); err != nil {
		return 0, err
	}
	required, limit := r.GetRequiredBytes(), r.GetLimitBytes()
	want := int64(floorGiB)
	if required > 0 {
		want = max(want, (required+gib-1)/gib)
	} else if floorGiB == 0 {
		want = defaultVolumeGiB
		if limit > 0 {
			// A caller that gives only a limit wants something that fits under it.
			want = min(want, limit/gib)
		}
	}
	want = max(want, int64(limits.MinGiB))
	if step := int64(max(limits.StepGiB, 1)); want%step != 0 {
		want += step - want%step
	}
	if limit > 0 && want*gib > limit {
		return 0, status.Errorf(codes.OutOfRange, "capacity_range: no size the disk type allows (min %d GiB, step %d GiB) fits between %d and %d bytes", limits.MinGiB, limits.StepGiB, required, limit)
	}
	if limits.MaxGiB > 0 && want > int64(limits.MaxGiB) {
		return 0, status.Errorf(codes.OutOfRange, "capacity_range: %d GiB exceeds the disk type's maximum of %d GiB", want, limits.MaxGiB)
	}
	return int(want), nil
}

// checkRange rejects a range no size could satisfy, whatever the disk type.
func checkRange(r *csi.CapacityRange) error {
	required, limit := r.GetRequiredBytes(), r.GetLimitBytes()
	if required < 0 || limit < 0 {
		return status.Error(codes.InvalidArgument, "capacity_range: bytes may not be negative")
	}
	if limit > 0 && required > limit {
		return status.Errorf(codes.InvalidArgument, "capacity_range: required_bytes %d exceeds limit_bytes %d", required, limit)
	}
	return nil
}

// fitsRange reports whether an existing disk of sizeGiB satisfies r (for idempotent
// CreateVolume: an existing volume with the same name must also fit the new request).
func fitsRange(sizeGiB int, r *csi.CapacityRange) bool {
	b := int64(sizeGiB) * gib
	if r.GetRequiredBytes() > 0 && b < r.GetRequiredBytes() {
		return false
	}
	if r.GetLimitBytes() > 0 && b > r.GetLimitBytes() {
		return false
	}
	return true
}
