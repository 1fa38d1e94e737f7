// Package tencentcloud implements iaasclient.API on Tencent Cloud API 3.0 (CVM, VPC,
// CLB, CBS and the tag service) with the official Go SDK, so that the CCM and the CSI
// driver run unchanged on a real Tencent Cloud VPC. Each file maps one product:
//
//	instances.go  CVM DescribeInstances / Start / Stop / TerminateInstances
//	vpc.go        VPC DescribeVpcs / DescribeRouteTables / CreateRoutes / DeleteRoutes
//	clb.go        CLB load balancers, TCP/UDP listeners, targets, DescribeTaskStatus
//	cbs.go        CBS CreateDisks / DescribeDisks / Attach / Detach / Resize / TerminateDisks
//	cbs_snapshots.go  CBS snapshots (the name is their identity: CBS snapshots have no tags)
//	cbs_clone.go  a disk copy as snapshot + CreateDisks (CBS cannot copy a disk)
//	tags.go       the tag service (ModifyResourceTags), for tags changed after creation
//	tasks.go      the task ids this package hands out and WaitTask over them
//	errors.go     Tencent error codes -> iaasclient typed errors (the one place)
//	call.go       every SDK call: rate limit, retries, ctx, metrics
//
// Tencent Cloud has no generic task API: CLB answers a RequestId to poll with
// DescribeTaskStatus, CVM and CBS change a resource's state. The task ids returned
// here name what to poll ("clb:<request id>", "disk-attached:<disk>:<instance>", ...),
// so iaasclient's WaitTask contract holds for both backends.
package tencentcloud
