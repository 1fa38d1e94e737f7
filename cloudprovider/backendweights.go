package cloudprovider

import (
	"math"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// weightedGroup is the backend group of one backendRef and the share of the rule's
// requests the route gives it (a backendRef's weight).
type weightedGroup struct {
	weight   int32
	backends []ic.Backend
}

// maxBackendWeight is the largest weight the IaaS takes for one backend.
const maxBackendWeight = 100

// weightedBackends turns the groups of a rule's backendRefs into one IaaS backend group
// whose per-backend weights send each group its share: a backend of a group with
// weight w and n backends gets w/n, scaled so the largest is maxBackendWeight (a
// backend reached through two backendRefs gets both). The IaaS weighs one backend at
// most 100 times another, so a share under 1% of the largest is rounded up to it. A
// single group keeps its weights as they are, so a rule with one backendRef is the
// same as before weights existed.
func weightedBackends(groups []weightedGroup) []ic.Backend {
	out := []ic.Backend{}
	if len(groups) == 1 {
		return append(out, groups[0].backends...)
	}
	share := map[ic.Backend]float64{} // key: IP and port, weight 0
	for _, g := range groups {
		for _, b := range g.backends {
			k := ic.Backend{IP: b.IP, Port: b.Port}
			if _, seen := share[k]; !seen {
				out = append(out, k)
			}
			share[k] += float64(g.weight) / float64(len(g.backends))
		}
	}
	top := 0.0
	for _, s := range share {
		top = max(top, s)
	}
	for i := range out {
		out[i].Weight = max(1, int(math.Round(maxBackendWeight*share[out[i]]/top)))
	}
	return out
}
