package cloudprovider

import (
	"context"
	"errors"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// setCond sets one condition on conds (keeping its transition time when the status
// does not change) from c.
func setCond(conds *[]metav1.Condition, typ string, c cond, gen int64) {
	st := metav1.ConditionFalse
	if c.ok {
		st = metav1.ConditionTrue
	}
	msg := c.msg
	if len(msg) > 32768 {
		msg = msg[:32768]
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: st, Reason: c.reason, Message: msg, ObservedGeneration: gen})
}

// writeStatus writes the Gateway's status (addresses, conditions, listeners) and the
// status its routes get from it. programmed is the state of the load balancer.
func (c *GatewayController) writeStatus(ctx context.Context, gw *gwv1.Gateway, plan *gatewayPlan, routes []*gwv1.HTTPRoute, vip string, programmed cond) error {
	var errs []error
	if st := gatewayStatus(gw, plan, vip, programmed); !equality.Semantic.DeepEqual(st, gw.Status) {
		// Re-read: the lister's copy may predate the finalizer update of this sync.
		cur, err := c.gw.GatewayV1().Gateways(gw.Namespace).Get(ctx, gw.Name, metav1.GetOptions{})
		if err == nil {
			cur.Status = gatewayStatus(cur, plan, vip, programmed)
			_, err = c.gw.GatewayV1().Gateways(gw.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.writeRouteStatuses(ctx, gw, plan, routes))
	return errors.Join(errs...)
}

// gatewayStatus is gw's status as the plan says, keeping the transition times of
// conditions that did not change.
func gatewayStatus(gw *gwv1.Gateway, plan *gatewayPlan, vip string, programmed cond) gwv1.GatewayStatus {
	st := gw.Status.DeepCopy()
	st.Addresses = nil
	if vip != "" {
		ip := gwv1.IPAddressType
		st.Addresses = []gwv1.GatewayStatusAddress{{Type: &ip, Value: vip}}
	}
	gen := gw.Generation
	setCond(&st.Conditions, string(gwv1.GatewayConditionAccepted), plan.accepted, gen)
	setCond(&st.Conditions, string(gwv1.GatewayConditionProgrammed), programmed, gen)
	old := st.Listeners
	st.Listeners = make([]gwv1.ListenerStatus, 0, len(plan.listeners))
	for _, l := range plan.listeners {
		ls := gwv1.ListenerStatus{Name: gwv1.SectionName(l.name), SupportedKinds: l.kinds, AttachedRoutes: l.attached}
		if ls.SupportedKinds == nil {
			ls.SupportedKinds = []gwv1.RouteGroupKind{}
		}
		for _, o := range old {
			if string(o.Name) == l.name {
				ls.Conditions = slices.Clone(o.Conditions)
			}
		}
		var lp cond
		switch {
		case !l.valid():
			lp = cond{reason: string(gwv1.ListenerReasonInvalid), msg: "the listener is not accepted or conflicts with another"}
		case l.proto == ic.ProtocolHTTPS && !plan.hasCert(l):
			lp = cond{reason: string(gwv1.ListenerReasonInvalid), msg: "no certificate: " + l.resolved.msg}
		case !programmed.ok:
			lp = cond{reason: string(gwv1.ListenerReasonPending), msg: programmed.msg}
		default:
			lp = okCond(string(gwv1.ListenerReasonProgrammed))
		}
		setCond(&ls.Conditions, string(gwv1.ListenerConditionAccepted), l.accepted, gen)
		setCond(&ls.Conditions, string(gwv1.ListenerConditionResolvedRefs), l.resolved, gen)
		conflicted := cond{ok: !l.conflicted.ok, reason: l.conflicted.reason, msg: l.conflicted.msg}
		setCond(&ls.Conditions, string(gwv1.ListenerConditionConflicted), conflicted, gen)
		setCond(&ls.Conditions, string(gwv1.ListenerConditionProgrammed), lp, gen)
		st.Listeners = append(st.Listeners, ls)
	}
	return *st
}

// hasCert says whether HTTPS listener l is served with a certificate (its group kept
// one when its Secret went bad).
func (p *gatewayPlan) hasCert(l *gwListener) bool {
	for _, g := range p.groups {
		if slices.Contains(g.listeners, l) {
			return g.certID != ""
		}
	}
	return false
}

// writeRouteStatuses makes the status.parents entries that this controller keeps for
// Gateway gw, on every route, equal to the plan: entries of other Gateways and other
// controllers are left as they are; a route that no longer names gw loses its entry.
func (c *GatewayController) writeRouteStatuses(ctx context.Context, gw *gwv1.Gateway, plan *gatewayPlan, routes []*gwv1.HTTPRoute) error {
	var errs []error
	for _, r := range routes {
		want := plan.routes[r.Namespace+"/"+r.Name]
		parents, changed := routeParents(r, gw, want)
		if !changed {
			continue
		}
		// Re-read, so a write of another Gateway's sync is kept; on a conflict the
		// retry starts over.
		cur, err := c.gw.GatewayV1().HTTPRoutes(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err == nil {
			if parents, changed = routeParents(cur, gw, want); changed {
				cur.Status.Parents = parents
				_, err = c.gw.GatewayV1().HTTPRoutes(r.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			}
		}
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// routeParents is r's status.parents with this controller's entries for gw replaced by
// want (in place, so entries keep their order), and whether that differs from what r has.
func routeParents(r *gwv1.HTTPRoute, gw *gwv1.Gateway, want []routeParent) ([]gwv1.RouteParentStatus, bool) {
	entry := func(w routeParent, old []metav1.Condition) gwv1.RouteParentStatus {
		ps := gwv1.RouteParentStatus{ParentRef: w.ref, ControllerName: GatewayControllerName, Conditions: slices.Clone(old)}
		setCond(&ps.Conditions, string(gwv1.RouteConditionAccepted), w.accepted, r.Generation)
		setCond(&ps.Conditions, string(gwv1.RouteConditionResolvedRefs), w.resolved, r.Generation)
		return ps
	}
	placed := make([]bool, len(want))
	parents := make([]gwv1.RouteParentStatus, 0, len(r.Status.Parents)+len(want))
	mine := false
	for _, p := range r.Status.Parents {
		if p.ControllerName != GatewayControllerName || !refersTo(p.ParentRef, r.Namespace, gw) {
			parents = append(parents, p)
			continue
		}
		mine = true
		for i, w := range want {
			if !placed[i] && equality.Semantic.DeepEqual(p.ParentRef, w.ref) {
				parents = append(parents, entry(w, p.Conditions))
				placed[i] = true
				break
			}
		}
	}
	if !mine && len(want) == 0 {
		return nil, false
	}
	for i, w := range want {
		if !placed[i] {
			parents = append(parents, entry(w, nil))
		}
	}
	return parents, !equality.Semantic.DeepEqual(parents, r.Status.Parents)
}

// syncClass accepts a GatewayClass of this controller: there are no parameters to check.
func (c *GatewayController) syncClass(ctx context.Context, name string) error {
	gc, err := c.classes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if gc.Spec.ControllerName != GatewayControllerName {
		return nil
	}
	accepted := okCond(string(gwv1.GatewayClassReasonAccepted))
	if gc.Spec.ParametersRef != nil {
		accepted = failCond(string(gwv1.GatewayClassReasonInvalidParameters), "parametersRef is not supported: this class has no parameters")
	}
	st := gc.Status.DeepCopy()
	setCond(&st.Conditions, string(gwv1.GatewayClassConditionStatusAccepted), accepted, gc.Generation)
	if equality.Semantic.DeepEqual(*st, gc.Status) {
		return nil
	}
	cp := gc.DeepCopy()
	cp.Status = *st
	_, err = c.gw.GatewayV1().GatewayClasses().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
