package cloudprovider

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// routeStore is the route table of the cluster, read through a short-lived cache that
// its own writes keep current.
type routeStore interface {
	table(ctx context.Context, maxAge time.Duration) (*ic.RouteTable, error)
	create(ctx context.Context, specs []ic.RouteSpec) ([]ic.Route, error)
	delete(ctx context.Context, ids []string) error
	// forget drops the cache, after an error that says it is wrong (LimitExceeded, overlap).
	forget()
}

type iaasRoutes struct {
	api     ic.VPCAPI
	tableID string
	snap    *snapshot[*ic.RouteTable]
}

var _ routeStore = (*iaasRoutes)(nil)

func newIaaSRoutes(api ic.VPCAPI, tableID string, ttl time.Duration) *iaasRoutes {
	r := &iaasRoutes{api: api, tableID: tableID}
	r.snap = newSnapshot(ttl, func(ctx context.Context) (*ic.RouteTable, error) {
		resp, err := api.DescribeRouteTables(ctx, &ic.DescribeRouteTablesRequest{RouteTableIDs: []string{tableID}})
		if err != nil {
			return nil, fmt.Errorf("DescribeRouteTables: %w", err)
		}
		for i := range resp.RouteTables {
			if resp.RouteTables[i].RouteTableID == tableID {
				return &resp.RouteTables[i], nil
			}
		}
		return nil, fmt.Errorf("route table %s: %w", tableID, ic.ErrNotFound)
	})
	return r
}

func (r *iaasRoutes) table(ctx context.Context, maxAge time.Duration) (*ic.RouteTable, error) {
	return r.snap.getFresher(ctx, maxAge)
}

func (r *iaasRoutes) create(ctx context.Context, specs []ic.RouteSpec) ([]ic.Route, error) {
	// A fresh token per call: a token derived from the routes would, within the 24 h
	// token lifetime, replay the answer of an earlier identical batch whose routes have
	// since been deleted, and create nothing. Duplicates after a crash are caught as
	// ResourceInUse and checked against the table instead.
	resp, err := r.api.CreateRoutes(ctx, &ic.CreateRoutesRequest{
		RouteTableID: r.tableID, Routes: specs, ClientToken: uuid.NewString(),
	})
	if err != nil {
		return nil, fmt.Errorf("CreateRoutes: %w", err)
	}
	r.snap.update(func(t *ic.RouteTable) *ic.RouteTable {
		c := *t
		c.Routes = append(slices.Clip(t.Routes), resp.Routes...)
		return &c
	})
	return resp.Routes, nil
}

func (r *iaasRoutes) delete(ctx context.Context, ids []string) error {
	if _, err := r.api.DeleteRoutes(ctx, &ic.DeleteRoutesRequest{RouteTableID: r.tableID, RouteIDs: ids}); err != nil {
		return fmt.Errorf("DeleteRoutes: %w", err)
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	r.snap.update(func(t *ic.RouteTable) *ic.RouteTable {
		c := *t
		c.Routes = slices.DeleteFunc(slices.Clone(t.Routes), func(rt ic.Route) bool { return gone[rt.RouteID] })
		return &c
	})
	return nil
}

func (r *iaasRoutes) forget() { r.snap.invalidate() }
