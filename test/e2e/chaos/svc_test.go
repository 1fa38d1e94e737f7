package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
)

// httpServerScript answers every connection with an HTTP/1.0 200 naming the pod.
const httpServerScript = `cat >/tmp/h.sh <<'EOF'
while IFS= read -r l; do l=${l%$'\r'}; [ -z "$l" ] && break; done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%s\n' "$POD_NAME"
EOF
exec socat TCP-LISTEN:8080,fork,reuseaddr EXEC:"bash /tmp/h.sh"`

// webDeployment is the backend of every Service of the churn.
func webDeployment(image string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(1)),
					Containers: []corev1.Container{{
						Name: "http", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{"bash", "-c", httpServerScript},
						Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
}

// keptService is a Service that outlives the churn: at the end its VIP must answer on
// finalPort and its load balancer must have exactly that port and these source ranges.
type keptService struct {
	name, uid    string
	sourceRanges []string
}

const finalPort = 8081

// serviceLifecycle: create (every tenth with a bad node selector first: the CCM must say
// so with a Warning Event and make no load balancer), wait for the VIP, add a port and
// remove the first, add source ranges and (mostly) remove them, switch the node selector
// to one worker and (sometimes) back, delete (four in five). The steps after the VIP do
// not wait for the IaaS to follow: that is the churn; the end state is checked at the end.
func (e *env) serviceLifecycle(ctx context.Context, ns string, i int, workers []string, rng *rand.Rand, r *results) error {
	name := fmt.Sprintf("svc-%03d", i)
	keep, bad := i%5 == 0, i%10 == 3
	svcs := e.kube.CoreV1().Services(ns)
	sel := "kubernetes.io/os=linux"
	if bad {
		sel = "pool in (" // not a label selector
	}
	created, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{nodeSelectorAn: sel}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	uid := string(created.UID)
	// Every Service made is either kept or deleted: the end checks know them all.
	update := func(f func(*corev1.Service)) error {
		return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			s, err := svcs.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			f(s)
			_, err = svcs.Update(ctx, s, metav1.UpdateOptions{})
			return err
		})
	}
	pause := func() { time.Sleep(time.Duration(rng.Int64N(int64(2 * time.Second)))) }
	if bad {
		if err := e.waitWarning(ctx, ns, "Service", name, 4*time.Minute); err != nil {
			return fmt.Errorf("bad node selector: %w", err)
		}
		s, err := svcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.Status.LoadBalancer.Ingress) > 0 {
			return fmt.Errorf("bad node selector: the Service got a load balancer %v", s.Status.LoadBalancer.Ingress)
		}
		r.add(func(r *results) { r.warned++ })
		if err := update(func(s *corev1.Service) { s.Annotations[nodeSelectorAn] = "kubernetes.io/os=linux" }); err != nil {
			return err
		}
	}
	var vip string
	err = poll(ctx, time.Second, 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		s, err := svcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if len(s.Status.LoadBalancer.Ingress) > 0 {
			vip = s.Status.LoadBalancer.Ingress[0].IP
		}
		return vip != "", "no ingress IP", nil
	})
	if err != nil {
		return fmt.Errorf("load balancer: %w", err)
	}
	pause()
	if err := update(func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "alt", Port: finalPort, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP})
	}); err != nil {
		return err
	}
	pause()
	if err := update(func(s *corev1.Service) {
		s.Spec.Ports = slices.DeleteFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 80 })
	}); err != nil {
		return err
	}
	pause()
	// The address the host's requests to the VIP come from stays allowed: the VIP is
	// checked from the host. (The VIPs are local addresses of the host's bridge, so that
	// is the VIP itself, not the host's address on the bridge.)
	src, err := sourceFor(vip)
	if err != nil {
		return err
	}
	ranges := []string{src + "/32", "192.0.2.0/24"}
	if err := update(func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = ranges }); err != nil {
		return err
	}
	pause()
	if i%10 != 0 {
		ranges = nil
		if err := update(func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = nil }); err != nil {
			return err
		}
		pause()
	}
	one := "kubernetes.io/hostname=" + workers[rng.IntN(len(workers))]
	if err := update(func(s *corev1.Service) { s.Annotations[nodeSelectorAn] = one }); err != nil {
		return err
	}
	pause()
	if rng.IntN(2) == 0 {
		if err := update(func(s *corev1.Service) { s.Annotations[nodeSelectorAn] = "kubernetes.io/os=linux" }); err != nil {
			return err
		}
		pause()
	}
	if keep {
		r.add(func(r *results) { r.kept = append(r.kept, keptService{name: name, uid: uid, sourceRanges: ranges}) })
		return nil
	}
	if err := svcs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	r.add(func(r *results) { r.deletedServices = append(r.deletedServices, uid) })
	return nil
}

// sourceFor is the local address the host sends from to reach ip (a UDP "connect"
// sends nothing; it only asks the routing table).
func sourceFor(ip string) (string, error) {
	c, err := net.Dial("udp", net.JoinHostPort(ip, strconv.Itoa(finalPort)))
	if err != nil {
		return "", fmt.Errorf("route to %s: %w", ip, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// waitWarning waits for a Warning Event about the object.
func (e *env) waitWarning(ctx context.Context, ns, kind, name string, timeout time.Duration) error {
	return poll(ctx, time.Second, timeout, func(ctx context.Context) (bool, string, error) {
		evs, err := e.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name + ",type=Warning"})
		if err != nil {
			return false, err.Error(), nil
		}
		return len(evs.Items) > 0, "no Warning Event on " + kind + " " + name, nil
	})
}
