package validate

import "github.com/kube-iaas/kube-iaas/iaasclient"

// DiskType returns the type a disk gets ("" is iaasclient.DefaultDiskType) or refuses
// one not in iaasclient.DiskTypes.
func DiskType(field string, t iaasclient.DiskType) (iaasclient.DiskType, *iaasclient.Error) {
	if t == "" {
		t = iaasclient.DefaultDiskType
	}
	if _, ok := iaasclient.DiskTypes[t]; !ok {
		return "", Invalid(field, "unknown disk type %q", Truncate(string(t)))
	}
	return t, nil
}

// DiskSize checks a size against the limits of the disk type in iaasclient.DiskTypes.
func DiskSize(field string, t iaasclient.DiskType, size int) *iaasclient.Error {
	lim := iaasclient.DiskTypes[t]
	if size < lim.MinGiB || size > lim.MaxGiB {
		return Invalid(field, "must be %d-%d GiB for %s, got %d", lim.MinGiB, lim.MaxGiB, t, size)
	}
	if lim.StepGiB > 1 && size%lim.StepGiB != 0 {
		return Invalid(field, "must be a multiple of %d GiB for %s", lim.StepGiB, t)
	}
	return nil
}

// CreateDisk checks what a CreateDisk request says on its own and returns the disk
// type. The zone must be given; whether it exists, and the source, are the caller's.
func CreateDisk(req *iaasclient.CreateDiskRequest) (iaasclient.DiskType, *iaasclient.Error) {
	if err := Name("name", req.Name, false); err != nil {
		return "", err
	}
	if err := Tags("tags", req.Tags); err != nil {
		return "", err
	}
	t, err := DiskType("type", req.Type)
	if err != nil {
		return "", err
	}
	if req.SizeGiB < 0 {
		return "", Invalid("sizeGiB", "must not be negative, got %d", req.SizeGiB)
	}
	if req.SnapshotID != "" && req.SourceDiskID != "" {
		return "", Invalid("snapshotId", "give at most one of snapshotId and sourceDiskId")
	}
	if err := Required("zone", req.Zone); err != nil {
		return "", err
	}
	return t, nil
}

// UnknownZone is the answer for a zone the IaaS does not have.
func UnknownZone(field, zone string) *iaasclient.Error {
	return Invalid(field, "unknown zone %q", Truncate(zone))
}

// SnapshotSource checks that a disk may be created from snap.
func SnapshotSource(snap *iaasclient.Snapshot) *iaasclient.Error {
	if snap.State != iaasclient.SnapshotAvailable {
		return InUse("snapshotId", "snapshot %s is %s", snap.SnapshotID, snap.State)
	}
	return nil
}

// DiskSource checks that a disk in zone may be cloned from src.
func DiskSource(src *iaasclient.Disk, zone string) *iaasclient.Error {
	if err := DiskReady("sourceDiskId", src); err != nil {
		return err
	}
	if src.Zone != zone {
		return Invalid("sourceDiskId", "disk %s is in zone %s, not %s", src.DiskID, src.Zone, zone)
	}
	return nil
}

// NewDiskSize is the size of a new disk of type t asked as size GiB (0 = the source's)
// from a source of srcSize GiB (0 = an empty disk).
func NewDiskSize(t iaasclient.DiskType, size, srcSize int) (int, *iaasclient.Error) {
	if size == 0 {
		if srcSize == 0 {
			return 0, Invalid("sizeGiB", "is required for an empty disk")
		}
		size = srcSize
	}
	if size < srcSize {
		return 0, Invalid("sizeGiB", "%d GiB is smaller than the source's %d GiB", size, srcSize)
	}
	if err := DiskSize("sizeGiB", t, size); err != nil {
		return 0, err
	}
	return size, nil
}

// DiskReady refuses a disk that is still being created or failed to be.
func DiskReady(field string, d *iaasclient.Disk) *iaasclient.Error {
	if d.State == iaasclient.DiskCreating || d.State == iaasclient.DiskError {
		return InUse(field, "disk %s is %s", d.DiskID, d.State)
	}
	return nil
}

// ResizeDisk checks a resize of d to size GiB: disks only grow, within their type's
// limits, and not while being created.
func ResizeDisk(d *iaasclient.Disk, size int) *iaasclient.Error {
	if size < d.SizeGiB {
		return Invalid("sizeGiB", "disks only grow: %d GiB is smaller than the current %d GiB", size, d.SizeGiB)
	}
	if err := DiskSize("sizeGiB", d.Type, size); err != nil {
		return err
	}
	return DiskReady("diskId", d)
}

// ModifyDisk checks a ModifyDisk request on its own.
func ModifyDisk(req *iaasclient.ModifyDiskRequest) *iaasclient.Error {
	if err := NewName("name", req.Name); err != nil {
		return err
	}
	return Tags("tags", req.Tags)
}

// CreateSnapshot checks a CreateSnapshot request on its own.
func CreateSnapshot(req *iaasclient.CreateSnapshotRequest) *iaasclient.Error {
	if err := Name("name", req.Name, false); err != nil {
		return err
	}
	return Tags("tags", req.Tags)
}

// DeleteDisk refuses to delete a disk that is attached (or attaching, or detaching) or
// still being created. Clones and snapshots in progress are the caller's to check.
func DeleteDisk(d *iaasclient.Disk) *iaasclient.Error {
	if d.InstanceID != "" {
		return attachedElsewhere(d)
	}
	if d.State == iaasclient.DiskCreating {
		return InUse("diskId", "disk %s is CREATING", d.DiskID)
	}
	return nil
}

func attachedElsewhere(d *iaasclient.Disk) *iaasclient.Error {
	return InUse("diskId", "disk %s is %s instance %s", d.DiskID, d.State, d.InstanceID)
}

// AttachDisk applies the rules of iaasclient.AttachDiskRequest to disk d and instance
// in, which has attached disks already. repeat is true when d is already attached or
// attaching to in (the call only confirms); otherwise nil means d may be attached.
func AttachDisk(d *iaasclient.Disk, in *iaasclient.Instance, attached int) (repeat bool, err *iaasclient.Error) {
	if in.State == iaasclient.InstanceTerminated {
		return false, InUse("instanceId", "instance %s is TERMINATED", in.InstanceID)
	}
	if d.Zone != in.Zone {
		return false, Invalid("instanceId", "instance %s is in zone %s and disk %s in zone %s", in.InstanceID, in.Zone, d.DiskID, d.Zone)
	}
	switch {
	case d.InstanceID != "" && d.InstanceID != in.InstanceID:
		return false, attachedElsewhere(d)
	case d.InstanceID == in.InstanceID && d.State == iaasclient.DiskDetaching:
		return false, InUse("diskId", "disk %s is DETACHING from instance %s", d.DiskID, in.InstanceID)
	case d.InstanceID == in.InstanceID:
		return true, nil // ATTACHING or ATTACHED
	case d.State != iaasclient.DiskAvailable:
		return false, InUse("diskId", "disk %s is %s", d.DiskID, d.State)
	case attached >= in.MaxDisks:
		return false, iaasclient.Errorf(iaasclient.CodeLimitExceeded, "instanceId: instance %s has %d disks, its limit", in.InstanceID, in.MaxDisks)
	}
	return false, nil
}

// Detach is what a DetachDisk call does.
type Detach int

const (
	// DetachNothing: the disk is attached to no instance; the call succeeds at once.
	DetachNothing Detach = iota
	// DetachStart: the disk is ATTACHED to the instance and starts DETACHING.
	DetachStart
	// DetachRepeat: the disk is DETACHING from the instance already.
	DetachRepeat
)

// DetachDisk applies the rules of iaasclient.DetachDiskRequest to disk d and the
// instance named (which exists): attached elsewhere, or still attaching, is
// ResourceInUse, never a success.
func DetachDisk(d *iaasclient.Disk, instanceID string) (Detach, *iaasclient.Error) {
	switch {
	case d.InstanceID == "":
		return DetachNothing, nil
	case d.InstanceID != instanceID:
		return 0, attachedElsewhere(d)
	case d.State == iaasclient.DiskAttaching:
		return 0, InUse("diskId", "disk %s is ATTACHING to instance %s", d.DiskID, instanceID)
	case d.State == iaasclient.DiskDetaching:
		return DetachRepeat, nil
	}
	return DetachStart, nil
}
