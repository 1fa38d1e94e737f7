package cloudprovider

import (
	"os"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// FuzzParseOptions: whatever a user writes into annotations and source ranges, parsing
// never panics, and a Service it accepts has settings the IaaS accepts too.
func FuzzParseOptions(f *testing.F) {
	f.Add("internal", "pool=edge", "v2", "5", "2", "10.0.0.0/8,192.168.1.0/24", "lb-1")
	f.Add("PUBLIC", "zone in (a,b)", "none", "300", "60", "", "")
	f.Add("x", "!!", "v3", "-1", "abc", "10.0.0.1/33", "lb-")
	f.Fuzz(func(t *testing.T, lbType, selector, proxy, interval, timeout, ranges, existing string) {
		svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n", Annotations: map[string]string{
			AnnotationType: lbType, AnnotationNodeSelector: selector, AnnotationProxyProtocol: proxy,
			AnnotationHCInterval: interval, AnnotationHCTimeout: timeout,
			AnnotationSourceRanges: ranges, AnnotationExistingID: existing,
		}}}
		o, err := parseOptions(svc, ic.LoadBalancerPublic)
		if err != nil {
			return
		}
		if o.lbType != ic.LoadBalancerPublic && o.lbType != ic.LoadBalancerInternal {
			t.Fatalf("accepted type %q", o.lbType)
		}
		if o.hc.TimeoutSeconds >= o.hc.IntervalSeconds || o.hc.IntervalSeconds < 1 || o.hc.IntervalSeconds > 300 {
			t.Fatalf("accepted health check timings %+v", o.hc)
		}
	})
}

// TestReadmeDocumentsEveryAnnotation: the README's table is what users read; an
// annotation missing there does not exist for them.
func TestReadmeDocumentsEveryAnnotation(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Annotations {
		if !strings.Contains(string(readme), "`"+a.Key+"`") {
			t.Errorf("README.md does not document %s", a.Key)
		}
	}
}
