package chaos

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// object is one thing that must reach its end state after the last fault.
type object struct {
	name  string
	check func(ctx context.Context) (bool, string)
}

// objects are the end states of the churn: kept Services serve on their VIP with
// exactly the load balancer their spec asks for; deleted Services, disks and
// snapshots are gone from the IaaS and from Kubernetes.
func (e *env) objects(ns string, r *results) []object {
	var out []object
	for _, k := range r.kept {
		out = append(out, object{"service " + k.name, func(ctx context.Context) (bool, string) { return e.keptServiceOK(ctx, ns, k) }})
	}
	for _, uid := range r.deletedServices {
		out = append(out, object{"deleted service " + uid, func(ctx context.Context) (bool, string) {
			lbs, err := ic.DescribeAllLoadBalancers(ctx, e.iaas, ic.DescribeLoadBalancersRequest{Tags: map[string]string{tagServiceUID: uid}})
			if err != nil {
				return false, err.Error()
			}
			return len(lbs) == 0, fmt.Sprintf("%d load balancers left", len(lbs))
		}})
	}
	for _, d := range r.disks {
		out = append(out, object{"disk " + d, func(ctx context.Context) (bool, string) {
			ds, err := ic.DescribeAllDisks(ctx, e.iaas, ic.DescribeDisksRequest{DiskIDs: []string{d}})
			if err != nil && !isNotFound(err) {
				return false, err.Error()
			}
			if len(ds) > 0 {
				return false, fmt.Sprintf("still %s on %q", ds[0].State, ds[0].InstanceID)
			}
			return true, ""
		}})
	}
	for _, s := range r.snapshots {
		out = append(out, object{"snapshot " + s, func(ctx context.Context) (bool, string) {
			ss, err := ic.DescribeAllSnapshots(ctx, e.iaas, ic.DescribeSnapshotsRequest{SnapshotIDs: []string{s}})
			if err != nil && !isNotFound(err) {
				return false, err.Error()
			}
			return len(ss) == 0, "still there"
		}})
	}
	return out
}

func isNotFound(err error) bool { return ic.CodeOf(err) == ic.CodeResourceNotFound }

// keptServiceOK: the Service has a VIP, its one load balancer has exactly the final
// port and the spec's source ranges, and the VIP answers from a backend pod.
func (e *env) keptServiceOK(ctx context.Context, ns string, k keptService) (bool, string) {
	svc, err := e.kube.CoreV1().Services(ns).Get(ctx, k.name, metav1.GetOptions{})
	if err != nil {
		return false, err.Error()
	}
	if len(svc.Status.LoadBalancer.Ingress) == 0 {
		return false, "no ingress IP"
	}
	vip := svc.Status.LoadBalancer.Ingress[0].IP
	lbs, err := ic.DescribeAllLoadBalancers(ctx, e.iaas, ic.DescribeLoadBalancersRequest{Tags: map[string]string{tagServiceUID: k.uid}})
	if err != nil {
		return false, err.Error()
	}
	if len(lbs) != 1 {
		return false, fmt.Sprintf("%d load balancers", len(lbs))
	}
	lb := lbs[0]
	if lb.VIP != vip {
		return false, fmt.Sprintf("LB VIP %s, Service says %s", lb.VIP, vip)
	}
	if len(lb.Listeners) != 1 || lb.Listeners[0].Port != finalPort {
		var ports []int
		for _, l := range lb.Listeners {
			ports = append(ports, l.Port)
		}
		return false, fmt.Sprintf("listener ports %v, want [%d]", ports, finalPort)
	}
	got, want := slices.Clone(lb.Listeners[0].SourceRanges), slices.Clone(k.sourceRanges)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		return false, fmt.Sprintf("source ranges %v, want %v", got, want)
	}
	body, err := httpGet(ctx, fmt.Sprintf("http://%s:%d/", vip, finalPort))
	if err != nil {
		return false, err.Error()
	}
	if !strings.HasPrefix(body, "web-") {
		return false, fmt.Sprintf("VIP answered %q", body)
	}
	return true, ""
}

// converge polls every object until it reaches its end state and returns, per object,
// how long after since it was first seen there.
func converge(ctx context.Context, objs []object, since time.Time, timeout time.Duration) (map[string]time.Duration, []string) {
	took := map[string]time.Duration{}
	last := map[string]string{}
	deadline := time.Now().Add(timeout)
	for {
		for _, o := range objs {
			if _, ok := took[o.name]; ok {
				continue
			}
			if ok, why := o.check(ctx); ok {
				took[o.name] = time.Since(since)
			} else {
				last[o.name] = why
			}
		}
		if len(took) == len(objs) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(2 * time.Second)
	}
	var stuck []string
	for _, o := range objs {
		if _, ok := took[o.name]; !ok {
			stuck = append(stuck, o.name+": "+last[o.name])
		}
	}
	return took, stuck
}

// leaks compares the IaaS with Kubernetes: every load balancer of the cluster belongs
// to a live LoadBalancer Service, every route to a node, every disk of the cluster to
// a live PV (and an attached one to that PV's VolumeAttachment on that instance), every
// snapshot of the cluster to a live VolumeSnapshotContent; and nothing of the churn's
// namespace is left in Kubernetes but the Services it kept.
func (e *env) leaks(ctx context.Context, ns string) ([]string, error) {
	var out []string
	svcs, err := e.kube.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	liveSvc := map[string]bool{}
	for _, s := range svcs.Items {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.DeletionTimestamp == nil {
			liveSvc[string(s.UID)] = true
		}
	}
	lbs, err := ic.DescribeAllLoadBalancers(ctx, e.iaas, ic.DescribeLoadBalancersRequest{Tags: map[string]string{tagCluster: e.clusterID}})
	if err != nil {
		return nil, err
	}
	for _, lb := range lbs {
		if !liveSvc[lb.Tags[tagServiceUID]] {
			out = append(out, fmt.Sprintf("load balancer %s (service uid %q, %d listeners)", lb.LoadBalancerID, lb.Tags[tagServiceUID], len(lb.Listeners)))
		}
	}

	nodes, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	nodeOf := map[string]string{} // node name -> instance
	cidrs := map[string]string{}  // pod CIDR -> instance
	for i := range nodes.Items {
		n := &nodes.Items[i]
		nodeOf[n.Name] = instanceID(n)
		if n.Spec.PodCIDR != "" {
			cidrs[n.Spec.PodCIDR] = instanceID(n)
		}
	}
	rts, err := ic.DescribeAllRouteTables(ctx, e.iaas, ic.DescribeRouteTablesRequest{RouteTableIDs: []string{e.route}})
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for _, rt := range rts {
		for _, rr := range rt.Routes {
			if rr.Tags[tagCluster] != e.clusterID {
				continue
			}
			seen[rr.DestinationCidr]++
			if inst, ok := cidrs[rr.DestinationCidr]; !ok || inst != rr.NextHopInstanceID || seen[rr.DestinationCidr] > 1 {
				out = append(out, fmt.Sprintf("route %s %s -> %s", rr.RouteID, rr.DestinationCidr, rr.NextHopInstanceID))
			}
		}
	}

	pvs, err := e.kube.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	pvOf := map[string]string{} // disk -> PV
	for _, pv := range pvs.Items {
		if pv.Spec.CSI != nil && pv.Spec.CSI.Driver == driverName {
			pvOf[pv.Spec.CSI.VolumeHandle] = pv.Name
		}
		if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Namespace == ns {
			out = append(out, fmt.Sprintf("PV %s of %s/%s (%s)", pv.Name, ns, pv.Spec.ClaimRef.Name, pv.Status.Phase))
		}
	}
	vas, err := e.kube.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	attachedTo := map[string]string{} // PV -> instance
	for _, va := range vas.Items {
		if va.Spec.Attacher == driverName && va.Spec.Source.PersistentVolumeName != nil && va.Status.Attached {
			attachedTo[*va.Spec.Source.PersistentVolumeName] = nodeOf[va.Spec.NodeName]
		}
	}
	disks, err := ic.DescribeAllDisks(ctx, e.iaas, ic.DescribeDisksRequest{Tags: map[string]string{tagCluster: e.clusterID}})
	if err != nil {
		return nil, err
	}
	for _, d := range disks {
		pv, ok := pvOf[d.DiskID]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("disk %s (%s) without a PV", d.DiskID, d.State))
		case d.InstanceID != "" && attachedTo[pv] != d.InstanceID:
			out = append(out, fmt.Sprintf("disk %s of PV %s %s on %s, VolumeAttachment says %q", d.DiskID, pv, d.State, d.InstanceID, attachedTo[pv]))
		}
	}

	contents, err := e.dyn.Resource(volumeSnapshotContents).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	handles := map[string]bool{}
	for _, c := range contents.Items {
		h, _, _ := unstructured.NestedString(c.Object, "status", "snapshotHandle")
		handles[h] = true
		if refNS, _, _ := unstructured.NestedString(c.Object, "spec", "volumeSnapshotRef", "namespace"); refNS == ns {
			out = append(out, "VolumeSnapshotContent "+c.GetName())
		}
	}
	snaps, err := ic.DescribeAllSnapshots(ctx, e.iaas, ic.DescribeSnapshotsRequest{Tags: map[string]string{tagCluster: e.clusterID}})
	if err != nil {
		return nil, err
	}
	for _, s := range snaps {
		if !handles[s.SnapshotID] {
			out = append(out, fmt.Sprintf("snapshot %s (%s, of disk %s) without a VolumeSnapshotContent", s.SnapshotID, s.State, s.DiskID))
		}
	}
	pvcs, err := e.kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, p := range pvcs.Items {
		out = append(out, "PVC "+p.Name)
	}
	return out, nil
}

// sweeperBlind checks that the CCM's orphan sweeper cannot have deleted a leak before
// the leak check saw it: its grace clock is in memory, so nothing is deleted within
// the grace period after the CCM (re)started, and the chaos kills the CCM. Deletions
// it reported (an Event per disk) since the start count as leaks.
func (e *env) sweeperBlind(ctx context.Context, since time.Time) (sweptEvents int, err error) {
	// The CCM's cloud config: the Secret its Deployment mounts (kustomize suffixes the
	// name with a hash of the content).
	dep, err := e.kube.AppsV1().Deployments("kube-system").Get(ctx, "iaas-cloud-controller-manager", metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	secretName := ""
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == "cloud-config" && v.Secret != nil {
			secretName = v.Secret.SecretName
		}
	}
	sec, err := e.kube.CoreV1().Secrets("kube-system").Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		return 0, fmt.Errorf("the CCM's cloud config %q: %w", secretName, err)
	}
	var cc struct {
		OrphanSweeper struct {
			Enabled     *bool  `json:"enabled"`
			GracePeriod string `json:"gracePeriod"`
		} `json:"orphanSweeper"`
	}
	if err := yaml.Unmarshal(sec.Data["cloud-config.yaml"], &cc); err != nil {
		return 0, fmt.Errorf("cloud config: %w", err)
	}
	grace := 10 * time.Minute // the CCM's default (cloudprovider/config.go)
	if cc.OrphanSweeper.GracePeriod != "" {
		if grace, err = time.ParseDuration(cc.OrphanSweeper.GracePeriod); err != nil {
			return 0, fmt.Errorf("orphanSweeper.gracePeriod: %w", err)
		}
	}
	if cc.OrphanSweeper.Enabled == nil || *cc.OrphanSweeper.Enabled {
		pods, err := e.kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: podTargets[compCCM].selector})
		if err != nil {
			return 0, err
		}
		for _, p := range pods.Items {
			for _, s := range p.Status.ContainerStatuses {
				if s.State.Running == nil {
					continue
				}
				if up := time.Since(s.State.Running.StartedAt.Time); up >= grace {
					return 0, fmt.Errorf("the CCM %s has run for %v, more than the sweeper's grace %v: it may have deleted a leak", p.Name, up.Round(time.Second), grace)
				}
			}
		}
	}
	evs, err := e.kube.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "reason=OrphanedDiskDeleted"})
	if err != nil {
		return 0, err
	}
	for _, ev := range evs.Items {
		if ev.LastTimestamp.Time.After(since) || ev.EventTime.Time.After(since) {
			sweptEvents++
		}
	}
	return sweptEvents, nil
}

// componentsReady waits until the pods of the CCM, the CSI controller, the CSI node
// plugins and the snapshot controller are all Ready.
func (e *env) componentsReady(ctx context.Context, timeout time.Duration) error {
	sels := []string{"app.kubernetes.io/name=snapshot-controller"}
	for _, c := range []string{compCCM, compCSICtl, compCSINode} {
		sels = append(sels, podTargets[c].selector)
	}
	return poll(ctx, time.Second, timeout, func(ctx context.Context) (bool, string, error) {
		for _, sel := range sels {
			pods, err := e.kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				return false, err.Error(), nil
			}
			if len(pods.Items) == 0 {
				return false, "no pod " + sel, nil
			}
			for _, p := range pods.Items {
				if !podReady(&p) {
					return false, "pod " + p.Name + " not Ready", nil
				}
			}
		}
		return true, "", nil
	})
}

// warningsByReason counts the Warning Events of the namespace by reason.
func (e *env) warningsByReason(ctx context.Context, ns string) map[string]int32 {
	out := map[string]int32{}
	evs, err := e.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err != nil {
		return out
	}
	for _, ev := range evs.Items {
		n := ev.Count
		if n == 0 {
			n = 1
		}
		out[ev.Reason] += n
	}
	return out
}

func notFoundOK(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
