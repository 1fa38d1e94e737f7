package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kube-iaas/kube-iaas/csi"
	iaasmetrics "github.com/kube-iaas/kube-iaas/iaasclient/metrics"
	"github.com/kube-iaas/kube-iaas/tencentcloud"
)

// runTencentCloud runs the driver on the tencentcloud backend (cloud config
// provider: tencentcloud). The node service needs only the metadata service; the
// controller service checks key, region and VPC first and exits with the reason.
func runTencentCloud(o options, cf cloudFile) error {
	credsFile := cf.CredentialsFile
	if o.credsFile != "" {
		credsFile = o.credsFile
	}
	creds, err := tencentcloud.LoadCredentials(credsFile)
	if err != nil && o.mode != csi.ModeNode {
		return err
	}
	endpoint := cf.Endpoint
	if o.iaasEndpoint != "" {
		endpoint = o.iaasEndpoint
	}
	reg := prometheus.NewRegistry()
	obs, err := iaasmetrics.New(reg)
	if err != nil {
		return err
	}
	if creds.AccessKeyID == "" {
		// The node service signs nothing; New still wants a key to be complete.
		creds.AccessKeyID, creds.SecretKey = "unused-by-node-service", "unused"
	}
	c, err := tencentcloud.New(tencentcloud.Config{
		Region: cf.Region, VpcID: cf.VpcID, Credentials: creds, Endpoint: endpoint,
		MetadataURL: cf.TencentCloud.MetadataURL, AccountID: cf.TencentCloud.AccountID,
		LocalAddr: o.sourceIP, Observer: obs, SnapshotNameTag: csi.SnapshotNameTag,
		MaxDisks: cf.TencentCloud.MaxDisksPerNode,
	})
	if err != nil {
		return err
	}
	if o.mode != csi.ModeNode {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Check(ctx); err != nil {
			return fmt.Errorf("start-up check: %w", err)
		}
	}
	return serve(o, csi.NewCloud(c), reg)
}
