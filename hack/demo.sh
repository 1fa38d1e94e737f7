#!/usr/bin/env bash
# make demo: kube-iaas on a kind cluster against the simulated IaaS, from a fresh machine.
# test/kind/up.sh installs Docker if missing, builds everything offline (cached: a second
# run rebuilds only what changed), creates the cluster (1 control plane + $KIND_WORKERS
# workers), starts the simulator on the host with the cluster's node containers as its
# instances and deploys the CCM, the CSI driver and the CNI config writer. Then the
# sample app of hack/demo/app.yaml: a Deployment behind a LoadBalancer Service and a
# StatefulSet with a network disk behind another. It waits until both load balancers
# answer and prints where to look. `make demo-down` (this script with `down`) removes it
# all. KIND_CLUSTER picks another cluster (default kube-iaas; see test/kind/profile.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH:/usr/sbin:/sbin
REPO=$PWD
source test/kind/lib.sh
source test/kind/images.env
source test/kind/profile.sh
NS=kube-iaas-demo
T0=$SECONDS
TIMINGS=()

timed() {
  local name=$1 t0=$SECONDS
  shift
  printf '\n\033[1m[%4ss] %s\033[0m\n' $((SECONDS - T0)) "$name" >&2
  "$@"
  TIMINGS+=("$(printf '%-34s %5ss' "$name" $((SECONDS - t0)))")
}

if [[ ${1:-up} == down ]]; then
  test/kind/down.sh
  exit 0
fi
[[ $(id -u) == 0 ]] || { echo "make demo needs root (Docker, routes, nftables, loop devices)" >&2; exit 1; }
DOWN="make demo-down"
[[ $CLUSTER == kube-iaas ]] || DOWN="KIND_CLUSTER=$CLUSTER make demo-down"
trap 'rc=$?; ((rc == 0)) || echo "make demo failed (exit $rc); its state is kept for a look (simulator log: $STATE/iaas-sim.log); $DOWN removes it" >&2' EXIT
timed "OS packages (hack/install-deps.sh)" ./hack/install-deps.sh

timed "cluster, simulator and kube-iaas (test/kind/up.sh)" test/kind/up.sh
source "$STATE/env"

deploy_app() {
  $K apply -f <(sed "s#image: kube-iaas/demo-app:dev#image: $DEMO_IMAGE_REF#" hack/demo/app.yaml) >/dev/null
  $K -n $NS rollout status deploy/web --timeout=180s >/dev/null
  $K -n $NS rollout status sts/notes --timeout=180s >/dev/null
}
timed "sample app (hack/demo/app.yaml)" deploy_app

# wait_lb SVC: prints the Service's load-balancer IP once HTTP through it answers.
wait_lb() {
  local ip="" i
  for i in $(seq 240); do
    ip=$($K -n $NS get svc "$1" -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
    [[ -n $ip ]] && curl -fsS -m 2 "http://$ip/" >/dev/null 2>&1 && { echo "$ip"; return 0; }
    sleep 0.5
  done
  echo "the load balancer of Service $NS/$1 does not answer (ip '${ip}')" >&2
  return 1
}
answer() { WEB_IP=$(wait_lb web) && NOTES_IP=$(wait_lb notes); }
timed "load balancers answer" answer

NOTES_NODE=$($K -n $NS get pod notes-0 -o jsonpath='{.spec.nodeName}')
NOTES_INSTANCE=$($K get node "$NOTES_NODE" -o jsonpath='{.spec.providerID}')
NOTES_INSTANCE=${NOTES_INSTANCE##*/}

echo >&2
printf '\033[1mkube-iaas demo is up in %ss\033[0m\n' $((SECONDS - T0)) >&2
printf '  %s\n' "${TIMINGS[@]}" >&2
cat <<TXT

  Web app (Deployment web, 3 pods, through the IaaS load balancer):
    curl http://$WEB_IP/
  Disk-backed app (StatefulSet notes, counts visits on its network disk):
    curl http://$NOTES_IP/

  Your shell (kubectl of the cluster; bin/iaasctl signed with the tenant's key):
    export KUBECONFIG=$KUBECONFIG PATH=$KUBE_BIN:\$PATH
    export IAAS_ENDPOINT=$IAAS_ENDPOINT IAAS_CREDENTIALS=$IAAS_CREDENTIALS IAAS_SOURCE_IP=127.0.0.1

  Look around:
    kubectl get nodes -o wide                 # providerIDs, addresses, zones from the IaaS
    kubectl -n $NS get svc,pods,pvc -o wide
    bin/iaasctl DescribeLoadBalancers
    bin/iaasctl DescribeRouteTables           # one route per node's pod CIDR, no overlay
    bin/iaasctl DescribeDisks

  Fail a node: stop the instance under notes-0 ($NOTES_NODE, $NOTES_INSTANCE); the pod
  comes back on another node with its disk, and the visit count goes on:
    bin/iaasctl StopInstances '{"instanceIds":["$NOTES_INSTANCE"]}' --wait
    kubectl -n $NS get pods -o wide             # again until notes-0 runs elsewhere
    curl http://$NOTES_IP/
    bin/iaasctl StartInstances '{"instanceIds":["$NOTES_INSTANCE"]}' --wait

  Simulator log: $STATE/iaas-sim.log
  Tear down:     $DOWN
TXT
