package tencentcloud

import (
	"context"
	"sort"

	tag "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/tag/v20180813"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// resourceName is the six-segment name the tag service knows a resource by:
// qcs::<service>:<region>:uin/<account>:<type>/<id>. It needs the account id (UIN).
func (c *Client) resourceName(service, typedID string) (string, error) {
	if c.cfg.AccountID == "" {
		return "", ic.Errorf(ic.CodeInvalidParameter, "changing tags after creation goes through the tag service, which names resources by account: set tencentcloud.accountId (the UIN) in the cloud config")
	}
	return "qcs::" + service + ":" + c.cfg.Region + ":uin/" + c.cfg.AccountID + ":" + typedID, nil
}

// replaceTags makes the resource's tags equal to want (old is what it has now): one
// ModifyResourceTags with the changed keys and the keys to remove; nothing when equal.
func (c *Client) replaceTags(ctx context.Context, service, typedID string, old, want map[string]string) error {
	r := tag.NewModifyResourceTagsRequest()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok := old[k]; !ok || v != want[k] {
			r.ReplaceTags = append(r.ReplaceTags, &tag.Tag{TagKey: sp(k), TagValue: sp(want[k])})
		}
	}
	gone := []string{}
	for k := range old {
		if _, ok := want[k]; !ok {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		r.DeleteTags = append(r.DeleteTags, &tag.TagKeyObject{TagKey: sp(k)})
	}
	if len(r.ReplaceTags) == 0 && len(r.DeleteTags) == 0 {
		return nil
	}
	name, err := c.resourceName(service, typedID)
	if err != nil {
		return err
	}
	r.Resource = sp(name)
	return c.call(ctx, r, tag.NewModifyResourceTagsResponse())
}
