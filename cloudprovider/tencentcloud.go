package cloudprovider

import (
	"fmt"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/tencentcloud"
)

// newTencentCloud makes the Tencent Cloud backend from the cloud config.
func newTencentCloud(cfg *Config) (ic.API, error) {
	creds, err := tencentcloud.LoadCredentials(cfg.CredentialsFile)
	if err != nil {
		return nil, fmt.Errorf("iaas cloud provider: %w", err)
	}
	c, err := tencentcloud.New(tencentcloud.Config{
		Region: cfg.Region, VpcID: cfg.VpcID, Credentials: creds, Endpoint: cfg.Endpoint,
		MetadataURL: cfg.TencentCloud.MetadataURL, AccountID: cfg.TencentCloud.AccountID,
		LocalAddr: cfg.LocalAddr, Observer: observer(),
	})
	if err != nil {
		return nil, fmt.Errorf("iaas cloud provider: %w", err)
	}
	return c, nil
}
