package csi

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// volumeParams are the StorageClass parameters of CreateVolume, validated.
type volumeParams struct {
	diskType  iaasclient.DiskType
	fsType    string // "" = decided at NodeStage (capability, else ext4)
	zone      string // "" = from topology, else the controller's zone
	encrypted bool
	tags      map[string]string
}

func invalidParam(name, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "parameter %q: %s", name, fmt.Sprintf(format, args...))
}

// parseVolumeParams validates every key, so a typo in a StorageClass fails the claim
// with the parameter's name instead of silently creating a default disk.
func parseVolumeParams(params map[string]string) (*volumeParams, error) {
	p := &volumeParams{diskType: iaasclient.DefaultDiskType, tags: map[string]string{}}
	for k, v := range params {
		switch k {
		case ParamType:
			t := iaasclient.DiskType(strings.ToUpper(strings.TrimSpace(v)))
			if _, ok := iaasclient.DiskTypes[t]; !ok {
				return nil, invalidParam(k, "unknown disk type %q (known: %s)", v, knownDiskTypes())
			}
			p.diskType = t
		case ParamFsType:
			fs := strings.ToLower(strings.TrimSpace(v))
			if err := checkFsType(fs); err != nil {
				return nil, invalidParam(k, "%v", err)
			}
			p.fsType = fs
		case ParamZone:
			if strings.TrimSpace(v) == "" {
				return nil, invalidParam(k, "empty zone")
			}
			p.zone = strings.TrimSpace(v)
		case ParamEncrypted:
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return nil, invalidParam(k, "%q is not a boolean", v)
			}
			p.encrypted = b
		case ParamTags:
			tags, err := parseTags(k, v)
			if err != nil {
				return nil, err
			}
			for tk, tv := range tags {
				p.tags[tk] = tv
			}
		case paramPVCName:
			p.tags[tagPVCName] = v
		case paramPVCNamespace:
			p.tags[tagPVCNamespace] = v
		case paramPVName:
			p.tags[tagPVName] = v
		default:
			if strings.HasPrefix(k, sidecarParamPrefix) {
				continue
			}
			return nil, invalidParam(k, "unknown parameter (known: %s, %s, %s, %s, %s)", ParamType, ParamFsType, ParamZone, ParamTags, ParamEncrypted)
		}
	}
	return p, nil
}

// parseSnapshotParams accepts only tags: a snapshot has no other attribute to set.
func parseSnapshotParams(params map[string]string) (map[string]string, error) {
	tags := map[string]string{}
	for k, v := range params {
		switch {
		case k == ParamTags:
			t, err := parseTags(k, v)
			if err != nil {
				return nil, err
			}
			tags = t
		case strings.HasPrefix(k, sidecarParamPrefix):
			// external-snapshotter metadata (snapshot name, namespace, content name).
		default:
			return nil, invalidParam(k, "unknown snapshot parameter (known: %s)", ParamTags)
		}
	}
	return tags, nil
}

// ParamMutableTags is the one mutable parameter (VolumeAttributesClass): tags to set on
// the disk, "k=v,k2=v2". The IaaS cannot change a disk's type or encryption in place,
// so nothing else is mutable.
const ParamMutableTags = "tags"

// parseMutableParams validates the mutable parameters of CreateVolume and
// ControllerModifyVolume.
func parseMutableParams(params map[string]string) (map[string]string, error) {
	tags := map[string]string{}
	for k, v := range params {
		if k != ParamMutableTags {
			return nil, invalidParam(k, "not a mutable parameter (mutable: %s)", ParamMutableTags)
		}
		t, err := parseTags(k, v)
		if err != nil {
			return nil, err
		}
		tags = t
	}
	return tags, nil
}

// parseTags reads "k=v,k2=v2".
func parseTags(param, s string) (map[string]string, error) {
	tags := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, invalidParam(param, "%q is not key=value", kv)
		}
		if strings.HasPrefix(k, reservedTagPrefix) {
			return nil, invalidParam(param, "tag key %q uses the driver's reserved prefix %s", k, reservedTagPrefix)
		}
		if _, dup := tags[k]; dup {
			return nil, invalidParam(param, "tag key %q is given twice", k)
		}
		tags[k] = v
	}
	return tags, nil
}

func checkFsType(fs string) error {
	switch fs {
	case fsExt4, fsXFS:
		return nil
	default:
		return fmt.Errorf("unsupported filesystem %q (supported: %s, %s)", fs, fsExt4, fsXFS)
	}
}

func knownDiskTypes() string {
	return strings.Join([]string{string(iaasclient.DiskTypeBasic), string(iaasclient.DiskTypeSSD), string(iaasclient.DiskTypePremium)}, ", ")
}
