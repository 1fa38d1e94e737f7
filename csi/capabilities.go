package csi

import (
	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A disk is attached to one instance at a time, so every supported mode is single-node.
var supportedAccessModes = map[csi.VolumeCapability_AccessMode_Mode]bool{
	csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER:        true,
	csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY:   true,
	csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER: true,
	csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:  true,
}

// checkCapability explains why one capability cannot be served ("" = it can).
func checkCapability(c *csi.VolumeCapability) string {
	if c == nil {
		return "a volume capability is empty"
	}
	if !supportedAccessModes[c.GetAccessMode().GetMode()] {
		return "access mode " + c.GetAccessMode().GetMode().String() + " is not supported: a disk attaches to one node"
	}
	switch t := c.GetAccessType().(type) {
	case *csi.VolumeCapability_Block:
	case *csi.VolumeCapability_Mount:
		if fs := t.Mount.GetFsType(); fs != "" {
			if err := checkFsType(fs); err != nil {
				return err.Error()
			}
		}
	default:
		return "access type must be mount or block"
	}
	return ""
}

// validateCapabilities answers InvalidArgument when caps is empty or any is unsupported.
func validateCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume_capabilities: required")
	}
	for _, c := range caps {
		if why := checkCapability(c); why != "" {
			return status.Errorf(codes.InvalidArgument, "volume_capabilities: %s", why)
		}
	}
	return nil
}

func isBlock(c *csi.VolumeCapability) bool { return c.GetBlock() != nil }

func isReadOnlyMode(c *csi.VolumeCapability) bool {
	m := c.GetAccessMode().GetMode()
	return m == csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY ||
		m == csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
}
