package cloudprovider

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/fake"
)

type env struct {
	cloud *Cloud
	fake  *fake.Cloud
	rec   *record.FakeRecorder
	kube  *k8sfake.Clientset
}

func testConfig() *Config {
	c := &Config{
		Endpoint: "http://127.0.0.1:1", Region: fake.DefaultRegion, VpcID: fake.DefaultVpcID,
		RouteTableID: fake.DefaultRouteTableID, ClusterID: "test", CredentialsFile: "/dev/null",
	}
	c.setDefaults()
	c.CacheTTL.Duration = time.Minute // tests decide when the cache is stale
	return c
}

func newEnv(t testing.TB, opts ...fake.Option) *env {
	t.Helper()
	f := fake.New(opts...)
	kube := k8sfake.NewClientset()
	rec := record.NewFakeRecorder(1000)
	c := New(testConfig(), f)
	c.SetKubeClient(kube, rec)
	return &env{cloud: c, fake: f, rec: rec, kube: kube}
}

// events drains the recorder.
func (e *env) events() []string {
	var out []string
	for {
		select {
		case ev := <-e.rec.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func hasEvent(evs []string, substr string) bool {
	for _, e := range evs {
		if strings.Contains(e, substr) {
			return true
		}
	}
	return false
}

func (e *env) addInstance(name, ip string) ic.Instance {
	return e.fake.AddInstance(ic.Instance{Name: name, PrivateIPs: []string{ip}})
}

func readyNode(name, ip string, providerID string) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{}},
		Spec:       v1.NodeSpec{ProviderID: providerID},
		Status: v1.NodeStatus{
			Addresses:  []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: ip}},
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
	return n
}

func lbService(name string, ports ...v1.ServicePort) *v1.Service {
	if len(ports) == 0 {
		ports = []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, NodePort: 30080}}
	}
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("0000-" + name), Annotations: map[string]string{}},
		Spec:       v1.ServiceSpec{Type: v1.ServiceTypeLoadBalancer, Ports: ports, ExternalTrafficPolicy: v1.ServiceExternalTrafficPolicyCluster},
	}
}

// writes counts calls that change IaaS state.
func writes(calls map[string]int) int {
	n := 0
	for a, c := range calls {
		if !strings.HasPrefix(a, "Describe") {
			n += c
		}
	}
	return n
}
