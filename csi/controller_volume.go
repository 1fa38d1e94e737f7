package csi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// errCreatedDiskGone: the IaaS answered a create with a disk that no longer exists.
// That happens when a name is reused (with the same parameters) within the token's
// lifetime after its first disk was deleted: the token replays the first answer.
var errCreatedDiskGone = errors.New("the disk the IaaS answered with no longer exists")

func (cs *ControllerServer) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "name: required")
	}
	if err := validateCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	p, err := parseVolumeParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	mutableTags, err := parseMutableParams(req.GetMutableParameters())
	if err != nil {
		return nil, err
	}
	for k, v := range mutableTags {
		p.tags[k] = v
	}
	release, err := cs.inflight.begin("create/" + name)
	if err != nil {
		return nil, err
	}
	defer release()

	if err := checkRange(req.GetCapacityRange()); err != nil {
		return nil, err
	}

	// The name first: a volume that exists is answered from what it is, even if its
	// source snapshot or volume has been deleted since.
	retryOf := ""
	existing, err := cs.cloud.FindDiskByTag(ctx, tagVolumeName, name)
	switch {
	case err == nil:
		if why := mismatch(existing, req, p, requestedSource(req)); why != "" {
			return nil, status.Errorf(codes.AlreadyExists, "volume %q exists as disk %s with other parameters: %s", name, existing.DiskID, why)
		}
		d, err := cs.settle(ctx, existing)
		if err != nil {
			return nil, err
		}
		if d != nil {
			return &csi.CreateVolumeResponse{Volume: volumeOf(d, p.fsType)}, nil
		}
		// The earlier attempt left a broken disk: replace it (with a new token).
		if err := cs.cloud.DeleteDisk(ctx, existing.DiskID); err != nil && !errors.Is(err, iaasclient.ErrNotFound) {
			return nil, toStatus(err, "deleting failed disk %s of volume %q", existing.DiskID, name)
		}
		retryOf = existing.DiskID
	case errors.Is(err, iaasclient.ErrNotFound):
	default:
		return nil, toStatus(err, "looking up volume %q", name)
	}

	src, err := cs.contentSource(ctx, req.GetVolumeContentSource())
	if err != nil {
		return nil, err
	}
	size, err := sizeGiB(req.GetCapacityRange(), diskTypeLimits(p.diskType), src.sizeGiB)
	if err != nil {
		return nil, err
	}
	return cs.create(ctx, name, p, src, size, req.GetAccessibilityRequirements(), retryOf)
}

// requestedSource is the content source a request names, not looked up.
func requestedSource(req *csi.CreateVolumeRequest) *source {
	return &source{
		snapshotID: req.GetVolumeContentSource().GetSnapshot().GetSnapshotId(),
		diskID:     req.GetVolumeContentSource().GetVolume().GetVolumeId(),
	}
}

func (cs *ControllerServer) create(ctx context.Context, name string, p *volumeParams, src *source, size int, topo *csi.TopologyRequirement, retryOf string) (*csi.CreateVolumeResponse, error) {
	zone, err := cs.pickZone(ctx, p.zone, topo, src.zone)
	if err != nil {
		return nil, err
	}
	tags := map[string]string{tagVolumeName: name}
	for k, v := range p.tags {
		tags[k] = v
	}
	if cs.clusterID != "" {
		tags[TagCluster] = cs.clusterID
	}
	creq := &iaasclient.CreateDiskRequest{
		Name: name, Zone: zone, SizeGiB: size, Type: p.diskType, Encrypted: p.encrypted,
		SnapshotID: src.snapshotID, SourceDiskID: src.diskID, Tags: tags,
	}
	tokenParts := []string{name, strconv.Itoa(size), string(p.diskType), zone, strconv.FormatBool(p.encrypted), src.snapshotID, src.diskID, retryOf}
	creq.ClientToken = clientToken("csivol", tokenParts...)
	disk, err := cs.cloud.CreateDisk(ctx, creq)
	if errors.Is(err, errCreatedDiskGone) {
		creq.ClientToken = clientToken("csivol", append(tokenParts, time.Now().UTC().Format(time.RFC3339Nano))...)
		disk, err = cs.cloud.CreateDisk(ctx, creq)
	}
	if err != nil {
		return nil, toStatus(err, "creating disk for volume %q", name)
	}
	klog.InfoS("Created volume", "name", name, "diskID", disk.DiskID, "sizeGiB", disk.SizeGiB, "type", disk.Type, "zone", disk.Zone)
	return &csi.CreateVolumeResponse{Volume: volumeOf(disk, p.fsType)}, nil
}

// settle waits while a disk found by name is still being created by an earlier call
// (whose sidecar deadline passed). It returns nil, nil for a disk that failed.
func (cs *ControllerServer) settle(ctx context.Context, d *iaasclient.Disk) (*iaasclient.Disk, error) {
	id := d.DiskID
	for d.State == iaasclient.DiskCreating {
		select {
		case <-ctx.Done():
			return nil, status.Errorf(codes.Aborted, "disk %s of the volume is still being created", id)
		case <-time.After(200 * time.Millisecond):
		}
		var err error
		if d, err = cs.cloud.GetDisk(ctx, id); err != nil {
			return nil, toStatus(err, "waiting for disk %s", id)
		}
	}
	if d.State == iaasclient.DiskError {
		return nil, nil
	}
	return d, nil
}

// source is the validated content source of CreateVolume.
type source struct {
	snapshotID, diskID string
	sizeGiB            int
	// zone the new disk must be in ("" = any): a clone stays in its disk's zone.
	zone string
}

func (cs *ControllerServer) contentSource(ctx context.Context, cs0 *csi.VolumeContentSource) (*source, error) {
	switch t := cs0.GetType().(type) {
	case nil:
		return &source{}, nil
	case *csi.VolumeContentSource_Snapshot:
		id := t.Snapshot.GetSnapshotId()
		if id == "" {
			return nil, status.Error(codes.InvalidArgument, "volume_content_source.snapshot.snapshot_id: required")
		}
		s, err := cs.cloud.GetSnapshot(ctx, id)
		if err != nil {
			return nil, toStatus(err, "source snapshot %s", id)
		}
		if s.State != iaasclient.SnapshotAvailable {
			return nil, status.Errorf(codes.Unavailable, "source snapshot %s is %s, not %s", id, s.State, iaasclient.SnapshotAvailable)
		}
		// No zone: a snapshot restores in any zone, so topology alone picks it.
		return &source{snapshotID: id, sizeGiB: s.SizeGiB}, nil
	case *csi.VolumeContentSource_Volume:
		id := t.Volume.GetVolumeId()
		if id == "" {
			return nil, status.Error(codes.InvalidArgument, "volume_content_source.volume.volume_id: required")
		}
		d, err := cs.cloud.GetDisk(ctx, id)
		if err != nil {
			return nil, toStatus(err, "source volume %s", id)
		}
		return &source{diskID: id, sizeGiB: d.SizeGiB, zone: d.Zone}, nil
	default:
		return nil, status.Error(codes.InvalidArgument, "volume_content_source: unknown type")
	}
}

// mismatch explains why an existing disk does not answer this CreateVolume ("" = it does).
func mismatch(d *iaasclient.Disk, req *csi.CreateVolumeRequest, p *volumeParams, src *source) string {
	switch {
	case !fitsRange(d.SizeGiB, req.GetCapacityRange()):
		return fmt.Sprintf("size %d GiB does not fit the requested range", d.SizeGiB)
	case d.Type != p.diskType:
		return fmt.Sprintf("type %s, requested %s", d.Type, p.diskType)
	case d.Encrypted != p.encrypted:
		return fmt.Sprintf("encrypted=%t, requested %t", d.Encrypted, p.encrypted)
	case p.zone != "" && d.Zone != p.zone:
		return fmt.Sprintf("zone %s, requested %s", d.Zone, p.zone)
	case d.SnapshotID != src.snapshotID:
		return fmt.Sprintf("source snapshot %q, requested %q", d.SnapshotID, src.snapshotID)
	case d.SourceDiskID != src.diskID:
		return fmt.Sprintf("source volume %q, requested %q", d.SourceDiskID, src.diskID)
	}
	if req := zonesOf(req.GetAccessibilityRequirements().GetRequisite()); len(req) > 0 && !slices.Contains(req, d.Zone) {
		return fmt.Sprintf("zone %s is outside the requisite topology %v", d.Zone, req)
	}
	return ""
}

// pickZone: the StorageClass zone, else the source's zone, else the first preferred
// then requisite topology, else the controller's zone; every choice must lie in the
// requisite topology when there is one.
func (cs *ControllerServer) pickZone(ctx context.Context, param string, topo *csi.TopologyRequirement, srcZone string) (string, error) {
	requisite := zonesOf(topo.GetRequisite())
	allowed := func(z string) bool { return len(requisite) == 0 || slices.Contains(requisite, z) }
	if param != "" {
		if !allowed(param) {
			return "", status.Errorf(codes.ResourceExhausted, "parameter %q: zone %s is outside the requisite topology %v", ParamZone, param, requisite)
		}
		return param, nil
	}
	if srcZone != "" {
		if !allowed(srcZone) {
			return "", status.Errorf(codes.ResourceExhausted, "the content source is in zone %s, outside the requisite topology %v", srcZone, requisite)
		}
		return srcZone, nil
	}
	if preferred := zonesOf(topo.GetPreferred()); len(preferred) > 0 {
		for _, z := range preferred {
			if allowed(z) {
				return z, nil
			}
		}
	}
	if len(requisite) > 0 {
		return requisite[0], nil
	}
	return cs.zone(ctx)
}

func zonesOf(ts []*csi.Topology) []string {
	var zones []string
	for _, t := range ts {
		if z := t.GetSegments()[TopologyKey]; z != "" && !slices.Contains(zones, z) {
			zones = append(zones, z)
		}
	}
	return zones
}

func (cs *ControllerServer) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	release, err := cs.inflight.begin("volume/" + id)
	if err != nil {
		return nil, err
	}
	defer release()
	// DeleteDisk alone answers every case: missing (or not even a well-formed id, so it
	// cannot exist) is success, attached is ResourceInUse.
	err = cs.cloud.DeleteDisk(ctx, id)
	switch {
	case err == nil:
	case errors.Is(err, iaasclient.ErrNotFound), errors.Is(err, iaasclient.ErrInvalidParameter):
		return &csi.DeleteVolumeResponse{}, nil
	case errors.Is(err, iaasclient.ErrInUse):
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is in use (attached or busy); unpublish it first: %v", id, err)
	default:
		return nil, toStatus(err, "deleting volume %s", id)
	}
	klog.InfoS("Deleted volume", "diskID", id)
	return &csi.DeleteVolumeResponse{}, nil
}

// volumeOf is the CSI view of a disk.
func volumeOf(d *iaasclient.Disk, fsType string) *csi.Volume {
	v := &csi.Volume{
		VolumeId:      d.DiskID,
		CapacityBytes: int64(d.SizeGiB) * gib,
	}
	if fsType != "" {
		v.VolumeContext = map[string]string{volumeContextFsType: fsType}
	}
	if d.Zone != "" {
		v.AccessibleTopology = []*csi.Topology{{Segments: map[string]string{TopologyKey: d.Zone}}}
	}
	switch {
	case d.SnapshotID != "":
		v.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: d.SnapshotID}}}
	case d.SourceDiskID != "":
		v.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: d.SourceDiskID}}}
	}
	return v
}

func diskTypeLimits(t iaasclient.DiskType) iaasclient.DiskTypeLimits {
	if l, ok := iaasclient.DiskTypes[t]; ok {
		return l
	}
	return iaasclient.DiskTypes[iaasclient.DefaultDiskType]
}

func wrapInt64(v int64) *wrapperspb.Int64Value { return wrapperspb.Int64(v) }
