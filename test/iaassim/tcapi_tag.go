package iaassim

import (
	"maps"
	"strings"

	tag "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/tag/v20180813"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// tcModifyResourceTags is the tag service's ModifyResourceTags for CBS disks and CLB
// instances, named six-segment: qcs::cbs:<region>:uin/<account>:volume/<disk-id>,
// qcs::clb:<region>:uin/<account>:clb/<lb-id>.
func (s *Server) tcModifyResourceTags(c *call, body []byte) (any, *iaasclient.Error) {
	var req tag.ModifyResourceTagsRequest
	if err := decodeTC(body, &req); err != nil {
		return nil, err
	}
	if req.Resource == nil {
		return nil, errf(iaasclient.CodeInvalidParameter, "Resource is required")
	}
	seg := strings.Split(*req.Resource, ":")
	if len(seg) != 6 || seg[0] != "qcs" || seg[1] != "" || !strings.HasPrefix(seg[4], "uin/") || len(seg[4]) == len("uin/") {
		return nil, errf(iaasclient.CodeInvalidParameter, "Resource %q is not a six-segment resource name", *req.Resource)
	}
	if seg[3] != s.cfg.Region {
		return nil, errf(iaasclient.CodeInvalidParameter, "Resource %q: region %q is not this fake's %s", *req.Resource, seg[3], s.cfg.Region)
	}
	kind, id, _ := strings.Cut(seg[5], "/")
	var (
		old   map[string]string
		write func(map[string]string) *iaasclient.Error
	)
	switch {
	case seg[2] == "cbs" && kind == "volume":
		r, err := s.native(c, iaasclient.ActionDescribeDisks, &iaasclient.DescribeDisksRequest{DiskIDs: []string{id}})
		if err != nil {
			return nil, err
		}
		disks := r.(*iaasclient.DescribeDisksResponse).Disks
		if len(disks) != 1 {
			return nil, errf(iaasclient.CodeResourceNotFound, "resource %s not found", *req.Resource)
		}
		old = disks[0].Tags
		write = func(t map[string]string) *iaasclient.Error {
			_, err := s.native(c, iaasclient.ActionModifyDisk, &iaasclient.ModifyDiskRequest{DiskID: id, Tags: t})
			return err
		}
	case seg[2] == "clb" && kind == "clb":
		lb, err := s.tcLB(c, &id)
		if err != nil {
			return nil, err
		}
		old = lb.Tags
		write = func(t map[string]string) *iaasclient.Error {
			_, err := s.native(c, iaasclient.ActionModifyLoadBalancer, &iaasclient.ModifyLoadBalancerRequest{LoadBalancerID: id, Tags: t})
			return err
		}
	default:
		return nil, errf(iaasclient.CodeInvalidParameter, "Resource %q: this fake tags CBS volumes and CLB instances only", *req.Resource)
	}
	if len(req.ReplaceTags) == 0 && len(req.DeleteTags) == 0 {
		return nil, errf(iaasclient.CodeInvalidParameter, "ReplaceTags or DeleteTags is required")
	}
	tags := maps.Clone(old)
	if tags == nil {
		tags = map[string]string{}
	}
	replaced := map[string]bool{}
	for _, t := range req.ReplaceTags {
		if t.TagKey == nil || t.TagValue == nil {
			return nil, errf(iaasclient.CodeInvalidParameter, "ReplaceTags: TagKey and TagValue are required")
		}
		tags[*t.TagKey] = *t.TagValue
		replaced[*t.TagKey] = true
	}
	for _, t := range req.DeleteTags {
		if t.TagKey == nil || replaced[*t.TagKey] {
			return nil, errf(iaasclient.CodeInvalidParameter, "DeleteTags: a TagKey, not also in ReplaceTags, is required")
		}
		delete(tags, *t.TagKey)
	}
	if err := write(tags); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}
