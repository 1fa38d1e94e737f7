package main

import (
	"context"

	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	"k8s.io/cloud-provider/app/config"
	genericapp "k8s.io/controller-manager/app"
	"k8s.io/controller-manager/controller"
	"k8s.io/klog/v2"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
)

// startFailoverController runs the fenced failover controller next to the default ones.
// It is on by default; fencedFailover.enabled=false in the cloud config or
// --controllers=*,-fenced-failover turns it off.
func startFailoverController(initCtx app.ControllerInitContext, cfg *config.CompletedConfig, cloud cloudprovider.Interface) app.InitFunc {
	return func(ctx context.Context, cc genericapp.ControllerContext) (controller.Interface, bool, error) {
		c, ok := cloud.(*iaas.Cloud)
		if !ok || !c.FailoverEnabled() {
			klog.InfoS("Fenced failover controller disabled by the cloud config")
			return nil, false, nil
		}
		fc := c.NewFailoverController(cfg.ClientBuilder.ClientOrDie(initCtx.ClientName), cfg.SharedInformers.Core().V1().Nodes())
		go fc.Run(ctx)
		return nil, true, nil
	}
}
