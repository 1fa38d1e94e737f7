package main

import (
	"context"

	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	"k8s.io/cloud-provider/app/config"
	genericapp "k8s.io/controller-manager/app"
	"k8s.io/controller-manager/controller"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
)

// startIngressController runs the Ingress controller (IngressClass controller
// kube-iaas.io/ingress) next to the default ones; --controllers=*,-ingress turns it off.
func startIngressController(initCtx app.ControllerInitContext, cfg *config.CompletedConfig, cloud cloudprovider.Interface) app.InitFunc {
	return func(ctx context.Context, cc genericapp.ControllerContext) (controller.Interface, bool, error) {
		c, ok := cloud.(*iaas.Cloud)
		if !ok {
			return nil, false, nil
		}
		// Informers registered here are started by the CCM after every controller's
		// init, with the shared ones.
		ic := c.NewIngressController(cfg.ClientBuilder.ClientOrDie(initCtx.ClientName), cfg.SharedInformers)
		go ic.Run(ctx)
		return nil, true, nil
	}
}
