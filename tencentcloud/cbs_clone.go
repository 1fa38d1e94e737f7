package tencentcloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// cloneSnapshotPrefix names the temporary snapshots of clones, so an operator can tell
// them from users' snapshots.
const cloneSnapshotPrefix = "kube-iaas-clone-"

// cloneDisk makes a copy of a disk the only way CBS can: snapshot the source, create
// the disk from the snapshot, delete the snapshot once the disk exists (the creation
// task does that). Every step is found again by name or client token, so a retry after
// a crash at any point continues instead of leaking a second snapshot or disk.
func (c *Client) cloneDisk(ctx context.Context, req *ic.CreateDiskRequest) (*ic.CreateDiskResponse, error) {
	seed := req.ClientToken
	if seed == "" {
		seed = req.Name + "\x00" + req.SourceDiskID
	}
	h := sha256.Sum256([]byte(seed))
	name := cloneSnapshotPrefix + hex.EncodeToString(h[:12])
	snapID, err := c.createSnapshot(ctx, req.SourceDiskID, name)
	if err != nil {
		return nil, fmt.Errorf("snapshot of source disk %s: %w", req.SourceDiskID, err)
	}
	if _, err := c.WaitTask(ctx, snapshotTask(snapID)); err != nil {
		return nil, fmt.Errorf("snapshot %s of source disk %s: %w", snapID, req.SourceDiskID, err)
	}
	resp, err := c.createDisks(ctx, req, snapID, req.SourceDiskID)
	if err != nil {
		return nil, err
	}
	resp.TaskID = diskCreatedTask(resp.DiskID, snapID)
	return resp, nil
}
