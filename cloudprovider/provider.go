// Package cloudprovider is the Kubernetes cloud provider "iaas": InstancesV2,
// LoadBalancer and Routes over the IaaS API of package iaasclient, and the fenced
// failover controller. Reads go through short-lived snapshots shared by every
// controller, so the steady state costs one Describe per resource type per TTL,
// whatever the number of nodes and Services.
package cloudprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/metrics"
)

// Cloud is the "iaas" cloud provider.
type Cloud struct {
	cfg           *Config
	api           ic.API
	instanceStore instanceStore
	instances     *instances
	routes        *routes
	lbs           *loadBalancers
	events        *eventer
	kube          kubernetes.Interface
	dyn           dynamic.Interface // the snapshot API, for the disk sweeper; nil in unit tests
	stop          <-chan struct{}
	// gatewayOwners is set by the Gateway controller, when the Gateway API is
	// installed: the orphan sweeper reads the Gateway UIDs from it.
	gatewayOwners atomic.Pointer[gatewayOwnerSource]
}

var (
	_ cloudprovider.Interface    = (*Cloud)(nil)
	_ cloudprovider.InformerUser = (*Cloud)(nil)
)

func init() {
	cloudprovider.RegisterCloudProvider(ProviderName, func(r io.Reader) (cloudprovider.Interface, error) {
		cfg, err := ReadConfig(r)
		if err != nil {
			return nil, err
		}
		api, err := NewAPIClient(cfg)
		if err != nil {
			return nil, err
		}
		if c, ok := api.(interface{ Check(context.Context) error }); ok {
			// A backend that can be wrong about the whole account (key, region, VPC) is
			// checked before any controller runs: the CCM exits with the reason instead
			// of starting a node lifecycle controller that reads "no instances".
			ctx, cancel := context.WithTimeout(context.Background(), startupCheckTimeout)
			defer cancel()
			if err := c.Check(ctx); err != nil {
				return nil, fmt.Errorf("iaas cloud provider: start-up check: %w", err)
			}
		}
		return New(cfg, api), nil
	})
}

// observer is process-wide: its metrics can be registered only once.
var observer = sync.OnceValue(func() ic.Observer { return metrics.MustNew(legacyregistry.Registerer()) })

// startupCheckTimeout bounds the tencentcloud start-up check (retries included).
const startupCheckTimeout = 60 * time.Second

// NewAPIClient makes the client of the IaaS API described by cfg (the sim's HTTP
// client or the Tencent Cloud backend), with its metrics on the CCM's /metrics.
func NewAPIClient(cfg *Config) (ic.API, error) {
	if cfg.Provider == ProviderTencentCloud {
		return newTencentCloud(cfg)
	}
	creds, err := ic.LoadCredentialsFile(cfg.CredentialsFile)
	if err != nil {
		return nil, fmt.Errorf("iaas cloud provider: cloud config field \"credentialsFile\": %w", err)
	}
	c, err := ic.New(ic.Config{
		Endpoint:    cfg.Endpoint,
		Credentials: creds,
		TLS:         cfg.TLS,
		LocalAddr:   cfg.LocalAddr,
		UserAgent:   "iaas-cloud-controller-manager",
		Observer:    observer(),
	})
	if err != nil {
		return nil, fmt.Errorf("iaas cloud provider: %w", err)
	}
	return c, nil
}

// New builds the provider on any implementation of the IaaS API (the HTTP client, or
// fake.Cloud in tests).
func New(cfg *Config, api ic.API) *Cloud {
	ttl := cfg.CacheTTL.Duration
	c := &Cloud{cfg: cfg, api: api, events: newEventer(nil)}
	c.instanceStore = newIaaSInstances(api, cfg.VpcID, ttl)
	c.instances = &instances{store: c.instanceStore, region: cfg.Region, vpc: cfg.VpcID, events: c.events}
	if cfg.RouteTableID != "" {
		c.routes = newRoutes(newIaaSRoutes(api, cfg.RouteTableID, ttl), c.instances, cfg.ClusterID, c.events)
	}
	c.lbs = &loadBalancers{
		store: newIaaSLBs(api, cfg.ClusterID, ttl), clusterID: cfg.ClusterID, vpcID: cfg.VpcID,
		subnetID: cfg.LoadBalancer.SubnetID, defaultType: cfg.LoadBalancer.DefaultType, events: c.events,
	}
	return c
}

// Initialize gets a Kubernetes client for Events and for writing the LB id annotation.
func (c *Cloud) Initialize(b cloudprovider.ControllerClientBuilder, stop <-chan struct{}) {
	c.stop = stop
	kube := b.ClientOrDie("iaas-cloud-provider")
	if dyn, err := dynamic.NewForConfig(b.ConfigOrDie("iaas-cloud-provider")); err == nil {
		c.dyn = dyn
	} else {
		klog.ErrorS(err, "No dynamic client: the disk and snapshot orphan sweeper is off")
	}
	bc := record.NewBroadcaster()
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	go func() { <-stop; bc.Shutdown() }()
	c.SetKubeClient(kube, bc.NewRecorder(scheme.Scheme, v1.EventSource{Component: "iaas-cloud-controller-manager"}))
	if d := c.cfg.LoadBalancer.BackendDelay(); d > 0 {
		c.lbs.startCoalescing(d, nil, stop)
	}
}

// SetKubeClient wires the Kubernetes side; Initialize calls it, tests call it directly.
func (c *Cloud) SetKubeClient(kube kubernetes.Interface, rec record.EventRecorder) {
	c.kube = kube
	c.events.rec = rec
	c.lbs.annotate = func(ctx context.Context, svc *v1.Service, key, value string) error {
		var v any = value
		if value == "" {
			v = nil // JSON merge patch: null deletes the key
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: v}}})
		_, err := kube.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile; its deletion cleans up the LB
		}
		return err
	}
}

// SetInformers lets the route code read Nodes from the shared informer and starts the
// load balancer backend resync on node changes the service controller ignores.
func (c *Cloud) SetInformers(f informers.SharedInformerFactory) {
	lister := f.Core().V1().Nodes().Lister()
	if c.stop != nil {
		c.lbs.startBackendResync(f.Core().V1().Nodes().Informer(), lister, f.Core().V1().Services().Lister(), c.stop)
		c.startSweeper(f)
		c.startDiskSweeper(f)
	}
	if c.routes != nil {
		c.routes.nodes = func(name string) *v1.Node {
			n, err := lister.Get(name)
			if err != nil {
				return nil
			}
			return n
		}
	}
}

func (c *Cloud) LoadBalancer() (cloudprovider.LoadBalancer, bool) { return c.lbs, true }

// Instances is the legacy interface; InstancesV2 replaces it.
func (c *Cloud) Instances() (cloudprovider.Instances, bool) { return nil, false }

func (c *Cloud) InstancesV2() (cloudprovider.InstancesV2, bool) { return c.instances, true }

// Zones is deprecated in favour of InstancesV2's metadata.
func (c *Cloud) Zones() (cloudprovider.Zones, bool) { return nil, false }

func (c *Cloud) Clusters() (cloudprovider.Clusters, bool) { return nil, false }

// Routes is offered only when the cloud config names a route table.
func (c *Cloud) Routes() (cloudprovider.Routes, bool) {
	if c.routes == nil {
		return nil, false
	}
	return c.routes, true
}

func (c *Cloud) ProviderName() string { return ProviderName }

func (c *Cloud) HasClusterID() bool { return c.cfg.ClusterID != "" }
