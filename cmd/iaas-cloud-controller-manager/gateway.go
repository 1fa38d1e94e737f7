package main

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	"k8s.io/cloud-provider/app/config"
	genericapp "k8s.io/controller-manager/app"
	"k8s.io/controller-manager/controller"
	"k8s.io/klog/v2"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
)

// startGatewayController runs the Gateway API controller (GatewayClass controllerName
// kube-iaas.io/gateway) when the Gateway API CRDs are installed; without them it stays
// off and says so once (installing them later needs a CCM restart).
// --controllers=*,-gateway turns it off.
func startGatewayController(initCtx app.ControllerInitContext, cfg *config.CompletedConfig, cloud cloudprovider.Interface) app.InitFunc {
	return func(ctx context.Context, cc genericapp.ControllerContext) (controller.Interface, bool, error) {
		c, ok := cloud.(*iaas.Cloud)
		if !ok {
			return nil, false, nil
		}
		kube := cfg.ClientBuilder.ClientOrDie(initCtx.ClientName)
		missing, grants, err := gatewayAPIMissing(kube.Discovery())
		if err != nil {
			return nil, false, fmt.Errorf("checking for the Gateway API: %w", err)
		} else if missing != "" {
			klog.InfoS("Gateway API not installed; the Gateway controller is off (install the CRDs and restart the CCM to turn it on)",
				"groupVersion", gwv1.GroupVersion.String(), "missing", missing)
			return nil, false, nil
		}
		rc := rest.CopyConfig(cfg.ClientBuilder.ConfigOrDie(initCtx.ClientName))
		// The CCM's config asks for protobuf, which CRD types do not speak.
		rc.ContentType, rc.AcceptContentTypes = runtime.ContentTypeJSON, runtime.ContentTypeJSON
		gw, err := gwclient.NewForConfig(rc)
		if err != nil {
			return nil, false, err
		}
		// The core informers registered here are started by the CCM after every
		// controller's init, with the shared ones; Run starts the Gateway API ones.
		if !grants {
			klog.InfoS("ReferenceGrants not served; Gateways and HTTPRoutes may refer only to their own namespace",
				"groupVersion", gwv1.GroupVersion.String())
		}
		g := c.NewGatewayController(kube, gw, cfg.SharedInformers, grants)
		go g.Run(ctx)
		return nil, true, nil
	}
}

// gatewayAPIMissing names the first Gateway API resource the apiserver does not serve,
// or "" when all the controller needs are there; grants says whether ReferenceGrants
// are served in v1 too (optional: CRDs before Gateway API v1.5 have them in v1beta1 only).
func gatewayAPIMissing(d discovery.DiscoveryInterface) (missing string, grants bool, err error) {
	list, err := d.ServerResourcesForGroupVersion(gwv1.GroupVersion.String())
	if apierrors.IsNotFound(err) {
		return gwv1.GroupVersion.String(), false, nil
	}
	if err != nil {
		return "", false, err
	}
	have := map[string]bool{}
	for _, r := range list.APIResources {
		have[r.Name] = true
	}
	for _, r := range []string{"gatewayclasses", "gateways", "httproutes"} {
		if !have[r] {
			return r, false, nil
		}
	}
	return "", have["referencegrants"], nil
}
