package tencentcloud

import (
	"context"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// DescribeQuotas: Tencent's quotas are per product and not needed by the consumers'
// decisions; none are reported.
func (c *Client) DescribeQuotas(context.Context, *ic.DescribeQuotasRequest) (*ic.DescribeQuotasResponse, error) {
	return &ic.DescribeQuotasResponse{Quotas: []ic.Quota{}}, nil
}
