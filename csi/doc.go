// Package csi is the CSI driver for the IaaS's network disks: the identity, controller
// and node services, the kubelet plugin registration and the health endpoint.
//
// Volume ids are disk ids and node ids are instance ids, so every RPC maps to the IaaS
// without a lookup table that could drift from it. The controller talks to the IaaS only
// through the Cloud interface (cloud.go); the node service touches the machine only
// through Mounter (mounter.go) and DeviceFinder (device.go), so both can be faked.
package csi
