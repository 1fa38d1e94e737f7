// Command iaas-cloud-controller-manager runs the Kubernetes cloud controllers (node,
// node lifecycle, service load balancers, routes) for the "iaas" cloud provider, plus
// the fenced failover controller. Flags are the standard ones of k8s.io/cloud-provider
// (--cloud-config, --leader-elect, --secure-port, --controllers, ...); /healthz and
// /metrics are served on --secure-port.
package main

import (
	"os"

	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	"k8s.io/cloud-provider/app/config"
	"k8s.io/cloud-provider/options"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics on /metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // build info on /metrics
	"k8s.io/klog/v2"

	iaas "github.com/kube-iaas/kube-iaas/cloudprovider"
)

func main() {
	opts, err := options.NewCloudControllerManagerOptions()
	if err != nil {
		klog.Fatalf("Initializing options: %v", err)
	}
	// The binary serves one provider; --cloud-provider still works and must say iaas.
	opts.KubeCloudShared.CloudProvider.Name = iaas.ProviderName

	b := app.NewBuilder()
	b.SetOptions(opts)
	b.SetCmdName("iaas-cloud-controller-manager")
	b.SetLongDesc("iaas-cloud-controller-manager runs the cloud controllers of Kubernetes for the kube-iaas IaaS: node initialization and lifecycle, Service load balancers, pod CIDR routes, fenced failover (the out-of-service taint on nodes whose instances the IaaS has stopped), Ingresses of IngressClass controller kube-iaas.io/ingress and Gateway API Gateways of GatewayClass controllerName kube-iaas.io/gateway (with their HTTPRoutes) on IaaS L7 load balancers.")
	b.SetCloudInitializer(initCloud)
	b.RegisterDefaultControllers()
	b.RegisterController(iaas.FailoverControllerName, app.ControllerInitFuncConstructor{
		InitContext: app.ControllerInitContext{ClientName: "fenced-failover-controller"},
		Constructor: startFailoverController,
	}, nil)
	b.RegisterController(iaas.IngressControllerLoopName, app.ControllerInitFuncConstructor{
		InitContext: app.ControllerInitContext{ClientName: "ingress-controller"},
		Constructor: startIngressController,
	}, nil)
	b.RegisterController(iaas.GatewayControllerLoopName, app.ControllerInitFuncConstructor{
		InitContext: app.ControllerInitContext{ClientName: "gateway-controller"},
		Constructor: startGatewayController,
	}, nil)
	os.Exit(cli.Run(b.BuildCommand()))
}

func initCloud(c *config.CompletedConfig) cloudprovider.Interface {
	cc := c.ComponentConfig.KubeCloudShared.CloudProvider
	if cc.Name != iaas.ProviderName {
		klog.Fatalf("--cloud-provider=%q: this binary serves only %q", cc.Name, iaas.ProviderName)
	}
	cloud, err := cloudprovider.InitCloudProvider(cc.Name, cc.CloudConfigFile)
	if err != nil {
		klog.Fatalf("Initializing cloud provider %q: %v", cc.Name, err)
	}
	if cloud == nil {
		klog.Fatalf("Cloud provider %q is not registered", cc.Name)
	}
	return cloud
}
