package csi

// Names shared with manifests and with the rest of the project; see DESIGN.md.
const (
	DriverName  = "disk.csi.kube-iaas.io"
	TopologyKey = "topology.disk.csi.kube-iaas.io/zone"

	// tagVolumeName marks a disk as the volume of one CreateVolume name, which is how a
	// retried CreateVolume finds the disk it made before (CSI names are stable, PV names).
	tagVolumeName = "csi.kube-iaas.io/volume-name"
	// tagSnapshotName does the same for CreateSnapshot.
	tagSnapshotName = "csi.kube-iaas.io/snapshot-name"
	// SnapshotNameTag is tagSnapshotName for backends that must know it (the
	// tencentcloud backend answers it from the CBS snapshot name).
	SnapshotNameTag = tagSnapshotName
	// TagCluster marks the disks and snapshots the driver creates with the cloud
	// config's clusterId. It is the key of cloudprovider.TagCluster: the CCM's orphan
	// sweeper finds this cluster's disks and snapshots by it, and never touches others.
	TagCluster = "kube-iaas.io/cluster"
	// reservedTagPrefix is owned by the driver; StorageClass tags may not use it.
	reservedTagPrefix = "csi.kube-iaas.io/"

	// DevicePathPrefix + device serial is where an attached disk appears on its instance.
	DevicePathPrefix = "/dev/disk/by-id/iaas-"

	// publishContextDevicePath carries the device path from ControllerPublish to the node.
	publishContextDevicePath = "devicePath"
	// volumeContextFsType carries the StorageClass fsType to NodeStage when the
	// volume capability names none (external-provisioner normally fills the capability).
	volumeContextFsType = "fsType"
)

// StorageClass (CreateVolume) parameters.
const (
	ParamType      = "type"
	ParamFsType    = "fsType"
	ParamZone      = "zone"
	ParamTags      = "tags"
	ParamEncrypted = "encrypted"

	// Keys external-provisioner adds with --extra-create-metadata; they become tags.
	paramPVCName      = "csi.storage.k8s.io/pvc/name"
	paramPVCNamespace = "csi.storage.k8s.io/pvc/namespace"
	paramPVName       = "csi.storage.k8s.io/pv/name"
	// Other csi.storage.k8s.io/ keys (secrets, fstype) are for sidecars, not for us.
	sidecarParamPrefix = "csi.storage.k8s.io/"
)

// Tags written from the provisioner's metadata, so an operator can find the claim of a
// disk in the IaaS console.
const (
	tagPVCName      = "kubernetes.io/created-for/pvc/name"
	tagPVCNamespace = "kubernetes.io/created-for/pvc/namespace"
	tagPVName       = "kubernetes.io/created-for/pv/name"
)

const (
	fsExt4 = "ext4"
	fsXFS  = "xfs"
	// defaultFsType is what kubelet and most drivers use when nothing is asked.
	defaultFsType = fsExt4
)

// gib is the IaaS's unit of disk size.
const gib int64 = 1 << 30

// defaultVolumeGiB is used when CreateVolume gives no capacity and no source; 10 GiB
// is what most cloud drivers choose and is within every disk type's limits.
const defaultVolumeGiB = 10
