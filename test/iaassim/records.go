package iaassim

import (
	"encoding/json"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// The records the simulator stores: the API objects plus what the API does not show
// (owner tenant, backend identity, task parameters). Records are values: a change
// copies the record, edits the copy and stages it in a txn.

type instanceRec struct {
	Tenant  string `json:"tenant"`
	Backend string `json:"backend"`
	Key     string `json:"key"`
	iaasclient.Instance
}

type routeTableRec struct {
	Tenant string `json:"tenant"`
	iaasclient.RouteTable
}

type lbRec struct {
	Tenant string `json:"tenant"`
	iaasclient.LoadBalancer
}

type diskRec struct {
	Tenant string `json:"tenant"`
	iaasclient.Disk
}

type snapshotRec struct {
	Tenant string `json:"tenant"`
	iaasclient.Snapshot
}

// taskParams are what a task worker needs beyond the resource id.
type taskParams struct {
	InstanceIDs  []string `json:"instanceIds,omitempty"`
	InstanceID   string   `json:"instanceId,omitempty"`
	DiskID       string   `json:"diskId,omitempty"`
	SizeGiB      int      `json:"sizeGiB,omitempty"`
	SnapshotID   string   `json:"snapshotId,omitempty"`
	SourceDiskID string   `json:"sourceDiskId,omitempty"`
}

type taskRec struct {
	Tenant string `json:"tenant"`
	// Seq orders tasks; tasks of one queue run in Seq order.
	Seq uint64 `json:"seq"`
	// Queue is the serialization key (a load balancer id, a disk id...).
	Queue  string     `json:"queue"`
	Params taskParams `json:"params"`
	iaasclient.Task
}

type tokenRec struct {
	Tenant     string          `json:"tenant"`
	Action     string          `json:"action"`
	Token      string          `json:"token"`
	ParamsHash string          `json:"paramsHash"`
	Response   json.RawMessage `json:"response"`
	CreatedAt  time.Time       `json:"createdAt"`
}

// clone deep-copies a record through JSON (records are small; clarity wins).
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

func copyTags(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// certRec is an uploaded certificate with its PEM material (never in an answer).
type certRec struct {
	Tenant         string `json:"tenant"`
	CertificatePEM string `json:"certificatePem"`
	PrivateKeyPEM  string `json:"privateKeyPem"`
	iaasclient.Certificate
}
