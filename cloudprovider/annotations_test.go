package cloudprovider

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		mod     func(*v1.Service)
		wantErr string
		check   func(*testing.T, *lbOptions)
	}{
		{name: "defaults", check: func(t *testing.T, o *lbOptions) {
			if o.lbType != ic.LoadBalancerPublic || o.hc.IntervalSeconds != 5 || o.proxyProtocol != "" || o.nodeSelector != nil {
				t.Errorf("%+v", o)
			}
		}},
		{name: "internal", ann: map[string]string{AnnotationType: " Internal "}, check: func(t *testing.T, o *lbOptions) {
			if o.lbType != ic.LoadBalancerInternal {
				t.Errorf("type %s", o.lbType)
			}
		}},
		{name: "bad type", ann: map[string]string{AnnotationType: "private"}, wantErr: AnnotationType},
		{name: "existing id", ann: map[string]string{AnnotationExistingID: "lb-1"}, check: func(t *testing.T, o *lbOptions) {
			if o.existingID != "lb-1" {
				t.Errorf("id %q", o.existingID)
			}
		}},
		{name: "bad existing id", ann: map[string]string{AnnotationExistingID: "disk-1"}, wantErr: AnnotationExistingID},
		{name: "selector", ann: map[string]string{AnnotationNodeSelector: "pool in (a,b),!spot"}, check: func(t *testing.T, o *lbOptions) {
			if o.nodeSelector == nil || o.nodeSelector.String() == "" {
				t.Error("no selector")
			}
		}},
		{name: "bad selector", ann: map[string]string{AnnotationNodeSelector: "pool in (a"}, wantErr: AnnotationNodeSelector},
		{name: "proxy v2", ann: map[string]string{AnnotationProxyProtocol: "v2"}, check: func(t *testing.T, o *lbOptions) {
			if o.proxyProtocol != ic.ProxyProtocolV2 {
				t.Error("not v2")
			}
		}},
		{name: "proxy v1 unsupported", ann: map[string]string{AnnotationProxyProtocol: "v1"}, wantErr: AnnotationProxyProtocol},
		{name: "interval range", ann: map[string]string{AnnotationHCInterval: "0"}, wantErr: AnnotationHCInterval},
		{name: "threshold not a number", ann: map[string]string{AnnotationHCHealthyThreshold: "two"}, wantErr: AnnotationHCHealthyThreshold},
		{name: "timeout not below interval", ann: map[string]string{AnnotationHCInterval: "3", AnnotationHCTimeout: "3"}, wantErr: "must be below"},
		{name: "source ranges annotation", ann: map[string]string{AnnotationSourceRanges: "10.0.0.1/8, 192.0.2.0/24"}, check: func(t *testing.T, o *lbOptions) {
			if strings.Join(o.sourceRanges, ",") != "10.0.0.0/8,192.0.2.0/24" {
				t.Errorf("ranges %v", o.sourceRanges)
			}
		}},
		{name: "bad source range", ann: map[string]string{AnnotationSourceRanges: "10.0.0.0/33"}, wantErr: AnnotationSourceRanges},
		{name: "spec wins over annotation", ann: map[string]string{AnnotationSourceRanges: "bad"},
			mod: func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"0.0.0.0/0"} },
			check: func(t *testing.T, o *lbOptions) {
				if o.sourceRanges != nil {
					t.Errorf("0.0.0.0/0 should mean no restriction, got %v", o.sourceRanges)
				}
			}},
		{name: "bad loadBalancerIP", mod: func(s *v1.Service) { s.Spec.LoadBalancerIP = "nope" }, wantErr: "spec.loadBalancerIP"},
		{name: "SCTP", mod: func(s *v1.Service) { s.Spec.Ports[0].Protocol = v1.ProtocolSCTP }, wantErr: "protocol"},
		{name: "no node port", mod: func(s *v1.Service) { s.Spec.Ports[0].NodePort = 0 }, wantErr: "allocateLoadBalancerNodePorts"},
		{name: "unknown annotation", ann: map[string]string{AnnotationPrefix + "tpye": "x"}, check: func(t *testing.T, o *lbOptions) {
			if len(o.unknown) != 1 {
				t.Errorf("unknown = %v", o.unknown)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := lbService("s")
			for k, v := range tc.ann {
				svc.Annotations[k] = v
			}
			if tc.mod != nil {
				tc.mod(svc)
			}
			o, err := parseOptions(svc, ic.LoadBalancerPublic)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

// Every annotation constant is documented.
func TestAnnotationsDocumented(t *testing.T) {
	for _, k := range []string{AnnotationType, AnnotationLoadBalancerID, AnnotationExistingID, AnnotationNodeSelector,
		AnnotationProxyProtocol, AnnotationHCInterval, AnnotationHCTimeout, AnnotationHCHealthyThreshold,
		AnnotationHCUnhealthyThreshold, AnnotationSourceRanges} {
		found := false
		for _, d := range Annotations {
			found = found || d.Key == k
		}
		if !found {
			t.Errorf("%s is not in Annotations", k)
		}
	}
}
