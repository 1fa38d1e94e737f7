package csi

import (
	"context"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func (cs *ControllerServer) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: required")
	}
	d, err := cs.cloud.GetDisk(ctx, req.GetVolumeId())
	if err != nil {
		return nil, toStatus(err, "volume %s", req.GetVolumeId())
	}
	return &csi.ControllerGetVolumeResponse{
		Volume: volumeOf(d, ""),
		Status: &csi.ControllerGetVolumeResponse_VolumeStatus{PublishedNodeIds: publishedNodes(d)},
	}, nil
}

// listTokenPrefix marks our paging tokens: the id of the last entry returned. An id
// (not an offset) keeps paging right when volumes are created or deleted between pages.
const listTokenPrefix = "after:"

func parseListToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	after, ok := strings.CutPrefix(tok, listTokenPrefix)
	if !ok || after == "" {
		return "", status.Errorf(codes.Aborted, "starting_token %q was not issued by this driver", tok)
	}
	return after, nil
}

// page returns the ids' window [start,end) after token and the next token.
func page(ids []string, token string, maxEntries int32) (start, end int, next string, err error) {
	if maxEntries < 0 {
		return 0, 0, "", status.Error(codes.InvalidArgument, "max_entries: may not be negative")
	}
	after, err := parseListToken(token)
	if err != nil {
		return 0, 0, "", err
	}
	if after != "" {
		start, _ = slices.BinarySearch(ids, after)
		if start < len(ids) && ids[start] == after {
			start++
		}
	}
	end = len(ids)
	if maxEntries > 0 && start+int(maxEntries) < end {
		end = start + int(maxEntries)
		next = listTokenPrefix + ids[end-1]
	}
	return start, end, next, nil
}

// diskPage lists every disk of the driver and returns the page after token, with the
// token of the next page; ListVolumes and ControllerListVolumeHealth share it.
func (cs *ControllerServer) diskPage(ctx context.Context, token string, maxEntries int32) ([]iaasclient.Disk, string, error) {
	disks, err := cs.cloud.ListDisks(ctx)
	if err != nil {
		return nil, "", toStatus(err, "listing disks")
	}
	ids := make([]string, len(disks))
	for i := range disks {
		ids[i] = disks[i].DiskID
	}
	start, end, next, err := page(ids, token, maxEntries)
	if err != nil {
		return nil, "", err
	}
	return disks[start:end], next, nil
}

func (cs *ControllerServer) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	disks, next, err := cs.diskPage(ctx, req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListVolumesResponse{NextToken: next}
	for i := range disks {
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{
			Volume: volumeOf(&disks[i], ""),
			Status: &csi.ListVolumesResponse_VolumeStatus{PublishedNodeIds: publishedNodes(&disks[i])},
		})
	}
	return resp, nil
}

// publishedNodes: a disk attaching to or detaching from an instance still counts as
// published there, so the attacher never believes a half-detached disk is free.
func publishedNodes(d *iaasclient.Disk) []string {
	if d.InstanceID == "" {
		return nil
	}
	return []string{d.InstanceID}
}
