package apitest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Header matches, fixed statuses, redirects and header edits of L7 rules over the real API: a rule set with them is stored and
// described back as given, a rule that differs from another only in its header set is a
// rule of its own, and bad matches are InvalidParameter naming the field, with nothing
// created.
func TestL7RuleMatchesAndFixedStatus(t *testing.T) {
	s := startSim(t, "--task-delay=20ms")
	c := s.client()
	ctx := t.Context()
	be := []ic.Backend{{IP: "127.0.0.11", Port: 30081}}
	rule := func(hs ...ic.HeaderMatch) ic.L7Rule {
		return ic.L7Rule{Host: "web.example.com", Path: "/", PathType: ic.PathPrefix, Headers: hs, Backends: be}
	}
	create := func(rules ...ic.L7Rule) (*ic.CreateLoadBalancerResponse, error) {
		return c.CreateLoadBalancer(ctx, &ic.CreateLoadBalancerRequest{Name: "hdr", Type: ic.LoadBalancerInternal, VpcID: vpcID,
			Listeners: []ic.ListenerSpec{{Protocol: ic.ProtocolHTTP, Port: 80, Rules: rules}}})
	}

	good := []ic.L7Rule{rule(), rule(ic.HeaderMatch{Name: "Version", Value: "two"}),
		rule(ic.HeaderMatch{Name: "version", Value: "two"}, ic.HeaderMatch{Name: "X-Canary", Value: "a, b;c=\"d\""}),
		// The same wildcard once for one label and once spanning labels: two rules, not a duplicate.
		{Host: "*.example.com", Path: "/", PathType: ic.PathPrefix, Backends: be},
		{Host: "*.example.com", WildcardSpansLabels: true, Path: "/", PathType: ic.PathPrefix, Backends: be},
		{Host: "edit.example.com", Path: "/", PathType: ic.PathPrefix, Backends: be, RequestHeaders: &ic.HeaderEdits{
			Set: []ic.HeaderMatch{{Name: "X-Set", Value: "s"}}, Add: []ic.HeaderMatch{{Name: "X-Add", Value: "a"}}, Remove: []string{"X-Drop"}}},
		{Host: "moved.example.com", Path: "/", PathType: ic.PathPrefix, Backends: []ic.Backend{}, Redirect: &ic.Redirect{Scheme: "https", Host: "example.org", Port: 8443, StatusCode: 308}}}
	lr := must[*ic.CreateLoadBalancerResponse](t, "CreateLoadBalancer")(create(good...))
	if task := must[*ic.Task](t, "WaitTask")(c.WaitTask(ctx, lr.TaskID)); task.State != ic.TaskSucceeded {
		t.Fatalf("task %+v", task)
	}
	d := must[*ic.DescribeLoadBalancersResponse](t, "DescribeLoadBalancers")(c.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{LoadBalancerIDs: []string{lr.LoadBalancerID}}))
	if len(d.LoadBalancers) != 1 || len(d.LoadBalancers[0].Listeners) != 1 {
		t.Fatalf("load balancers %+v", d.LoadBalancers)
	}
	got := d.LoadBalancers[0].Listeners[0].Rules
	if len(got) != len(good) {
		t.Fatalf("rules %+v", got)
	}
	for i := range good {
		if !slices.Equal(got[i].Headers, good[i].Headers) {
			t.Errorf("rule %d headers %+v, want %+v", i, got[i].Headers, good[i].Headers)
		}
		if !reflect.DeepEqual(got[i].Redirect, good[i].Redirect) || !reflect.DeepEqual(got[i].RequestHeaders, good[i].RequestHeaders) {
			t.Errorf("rule %d redirect %+v edits %+v, want %+v %+v", i, got[i].Redirect, got[i].RequestHeaders, good[i].Redirect, good[i].RequestHeaders)
		}
		if got[i].Host != good[i].Host || got[i].WildcardSpansLabels != good[i].WildcardSpansLabels {
			t.Errorf("rule %d host %q spanning %v, want %q %v", i, got[i].Host, got[i].WildcardSpansLabels, good[i].Host, good[i].WildcardSpansLabels)
		}
	}
	run(t, c, "DeleteLoadBalancer")(c.DeleteLoadBalancer(ctx, &ic.DeleteLoadBalancerRequest{LoadBalancerID: lr.LoadBalancerID}))

	many := make([]ic.HeaderMatch, 17)
	for i := range many {
		many[i] = ic.HeaderMatch{Name: "x-h" + strings.Repeat("a", i), Value: "v"}
	}
	for _, tc := range []struct {
		name  string
		rules []ic.L7Rule
		field string
	}{
		{"name with a space", []ic.L7Rule{rule(ic.HeaderMatch{Name: "x env", Value: "a"})}, "listeners[0].rules[0].headers[0].name"},
		{"empty name", []ic.L7Rule{rule(ic.HeaderMatch{Value: "a"})}, "listeners[0].rules[0].headers[0].name"},
		{"name with a colon", []ic.L7Rule{rule(ic.HeaderMatch{Name: "x:y", Value: "a"})}, "listeners[0].rules[0].headers[0].name"},
		{"name twice in any case", []ic.L7Rule{rule(ic.HeaderMatch{Name: "X-Env", Value: "a"}, ic.HeaderMatch{Name: "x-env", Value: "b"})}, "listeners[0].rules[0].headers[1].name"},
		{"value with a line break", []ic.L7Rule{rule(ic.HeaderMatch{Name: "x-env", Value: "a\r\nX-Evil: 1"})}, "listeners[0].rules[0].headers[0].value"},
		{"value too long", []ic.L7Rule{rule(ic.HeaderMatch{Name: "x-env", Value: strings.Repeat("v", 4097)})}, "listeners[0].rules[0].headers[0].value"},
		{"17 header matches", []ic.L7Rule{rule(many...)}, "listeners[0].rules[0].headers"},
		{"fixed status out of range", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, FixedStatus: 99, Backends: []ic.Backend{}}}, "listeners[0].rules[0].fixedStatus"},
		{"fixed status with backends", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, FixedStatus: 500, Backends: be}}, "listeners[0].rules[0].backends"},
		{"redirect status 200", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, Backends: []ic.Backend{}, Redirect: &ic.Redirect{StatusCode: 200}}}, "listeners[0].rules[0].redirect.statusCode"},
		{"redirect with backends", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, Backends: be, Redirect: &ic.Redirect{StatusCode: 302}}}, "listeners[0].rules[0].backends"},
		{"redirect to a wildcard host", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, Backends: []ic.Backend{}, Redirect: &ic.Redirect{Host: "*.example.com", StatusCode: 302}}}, "listeners[0].rules[0].redirect.host"},
		{"redirect scheme ftp", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, Backends: []ic.Backend{}, Redirect: &ic.Redirect{Scheme: "ftp", StatusCode: 302}}}, "listeners[0].rules[0].redirect.scheme"},
		{"redirect port out of range", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, Backends: []ic.Backend{}, Redirect: &ic.Redirect{Port: 70000, StatusCode: 302}}}, "listeners[0].rules[0].redirect.port"},
		{"set Host", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, Backends: be, RequestHeaders: &ic.HeaderEdits{Set: []ic.HeaderMatch{{Name: "host", Value: "x"}}}}}, "listeners[0].rules[0].requestHeaders.set[0].name"},
		{"remove a bad name", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, Backends: be, RequestHeaders: &ic.HeaderEdits{Remove: []string{"a b"}}}}, "listeners[0].rules[0].requestHeaders.remove[0]"},
		{"add a value with a line break", []ic.L7Rule{{Path: "/", PathType: ic.PathPrefix, Backends: be, RequestHeaders: &ic.HeaderEdits{Add: []ic.HeaderMatch{{Name: "x", Value: "a\nb"}}}}}, "listeners[0].rules[0].requestHeaders.add[0].value"},
		{"spanning labels without a wildcard host", []ic.L7Rule{{Host: "web.example.com", WildcardSpansLabels: true, Path: "/", PathType: ic.PathPrefix, Backends: be}}, "listeners[0].rules[0].wildcardSpansLabels"},
		{"same headers in another order and case", []ic.L7Rule{
			rule(ic.HeaderMatch{Name: "a", Value: "1"}, ic.HeaderMatch{Name: "b", Value: "2"}),
			rule(ic.HeaderMatch{Name: "B", Value: "2"}, ic.HeaderMatch{Name: "A", Value: "1"})}, "listeners[0].rules[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := create(tc.rules...)
			wantCode(t, tc.name, err, ic.CodeInvalidParameter)
			var ae *ic.Error
			if !errors.As(err, &ae) || !strings.HasPrefix(ae.Message, tc.field+":") {
				t.Fatalf("error %v does not name %s", err, tc.field)
			}
		})
	}
	left := must[*ic.DescribeLoadBalancersResponse](t, "DescribeLoadBalancers")(c.DescribeLoadBalancers(ctx, &ic.DescribeLoadBalancersRequest{}))
	for _, lb := range left.LoadBalancers {
		if lb.State != ic.LoadBalancerDeleting {
			t.Errorf("a refused create left load balancer %+v", lb)
		}
	}
}
