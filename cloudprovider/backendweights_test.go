package cloudprovider

import (
	"slices"
	"testing"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

func TestWeightedBackends(t *testing.T) {
	b := func(ip string, port, w int) ic.Backend { return ic.Backend{IP: ip, Port: port, Weight: w} }
	for _, tc := range []struct {
		name   string
		groups []weightedGroup
		want   []ic.Backend
	}{
		{"none", nil, []ic.Backend{}},
		{"one group keeps its weights", []weightedGroup{{weight: 7, backends: []ic.Backend{b("n1", 1, 10), b("n2", 1, 10)}}},
			[]ic.Backend{b("n1", 1, 10), b("n2", 1, 10)}},
		{"70:30 over the same nodes", []weightedGroup{
			{weight: 70, backends: []ic.Backend{b("n1", 1, 10), b("n2", 1, 10)}},
			{weight: 30, backends: []ic.Backend{b("n1", 2, 10), b("n2", 2, 10)}}},
			[]ic.Backend{b("n1", 1, 100), b("n2", 1, 100), b("n1", 2, 43), b("n2", 2, 43)}},
		{"equal weights, groups of different size: each group half", []weightedGroup{
			{weight: 1, backends: []ic.Backend{b("p1", 80, 10)}},
			{weight: 1, backends: []ic.Backend{b("p2", 80, 10), b("p3", 80, 10)}}},
			[]ic.Backend{b("p1", 80, 100), b("p2", 80, 50), b("p3", 80, 50)}},
		{"one backend in two groups gets both shares", []weightedGroup{
			{weight: 1, backends: []ic.Backend{b("n1", 1, 10)}},
			{weight: 1, backends: []ic.Backend{b("n1", 1, 10), b("n2", 1, 10)}}},
			[]ic.Backend{b("n1", 1, 100), b("n2", 1, 33)}},
		{"a share under 1% of the largest rounds up to 1", []weightedGroup{
			{weight: 1000, backends: []ic.Backend{b("n1", 1, 10)}},
			{weight: 1, backends: []ic.Backend{b("n1", 2, 10)}}},
			[]ic.Backend{b("n1", 1, 100), b("n1", 2, 1)}},
		{"a group without backends takes nothing", []weightedGroup{
			{weight: 1, backends: []ic.Backend{b("n1", 1, 10)}},
			{weight: 5, backends: []ic.Backend{}}},
			[]ic.Backend{b("n1", 1, 100)}},
	} {
		if got := weightedBackends(tc.groups); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
