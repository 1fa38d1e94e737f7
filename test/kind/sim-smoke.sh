#!/usr/bin/env bash
# Groundwork check for issue 6: the simulated IaaS on the host with the docker backend
# over a running kind cluster ($KIND_CLUSTER): the node containers are the instances
# (DescribeInstances: all RUNNING), and a disk attached to a worker appears inside its
# container as /dev/disk/by-id/iaas-<id>. With SMOKE_NET=1 (default) also: pods on two
# nodes reach each other only through routes made with CreateRoutes, and a load balancer
# reaches a pod through the nodes' NodePort. Cleans up after itself (the cluster stays;
# the stand-in CNI config it may write on the nodes stays too).
source "$(dirname "$0")/lib.sh"
CLUSTER=${KIND_CLUSTER:-kube-iaas}
POD_SUBNET=${KIND_POD_SUBNET:-10.245.0.0/16}
PORT=${SIM_PORT:-7790}
WORK=$(mktemp -d /var/tmp/kube-iaas-kind-sim.XXXXXX)
BIN=$REPO_ROOT/bin
NFT_TABLE=kube_iaas_kind_smoke
PUBLIC_POOL=172.31.240.0/24 INTERNAL_POOL=172.31.241.0/24

(cd "$REPO_ROOT" && go build -o "$BIN/" ./cmd/iaas-sim ./cmd/iaasctl)

net_id=$(docker network inspect kind -f '{{.Id}}')
BRIDGE=br-${net_id:0:12}
read -r SUBNET GW < <(docker network inspect kind -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{"\n"}}{{end}}' | awk '$1 ~ /\./ {print; exit}')
log "kind network: bridge $BRIDGE subnet $SUBNET gateway $GW"

cat >"$WORK/credentials.yaml" <<YAML
accessKeyId: AKKIND
secretKey: kind-secret-key
YAML
cat >"$WORK/config.yaml" <<YAML
region: sim-1
zones: [sim-1a]
loadBalancerPools: {public: $PUBLIC_POOL, internal: $INTERNAL_POOL}
tenants:
  - name: $CLUSTER
    accessKeys: [{accessKeyId: AKKIND, secretKey: kind-secret-key}]
    adminCidrs: [127.0.0.1/32]
    vpcs:
      - vpcId: vpc-kind
        name: kind
        cidrBlock: $SUBNET
        routeTables: [{routeTableId: rtb-kind, name: default}]
YAML

SIM_PID=""
cleanup() {
  local rc=$?
  set +e
  if ((rc != 0)); then echo "--- iaas-sim log (last 40 lines)" >&2; tail -40 "$WORK/iaas-sim.log" >&2; fi
  if [[ -n ${DISK:-} ]]; then
    ctl DetachDisk "{\"diskId\":\"$DISK\",\"instanceId\":\"${ins:-}\"}" --wait >/dev/null 2>&1
    ctl DeleteDisk "{\"diskId\":\"$DISK\"}" --wait >/dev/null 2>&1
  fi
  [[ -n $SIM_PID ]] && kill "$SIM_PID" && wait "$SIM_PID" 2>/dev/null
  # What a simulator keeps after a plain exit (so that it can restart): remove it.
  nft delete table ip "$NFT_TABLE" 2>/dev/null
  for c in $POD_SUBNET $PUBLIC_POOL $INTERNAL_POOL; do ip route del unreachable "$c" 2>/dev/null; done
  ip route show proto 149 root "$POD_SUBNET" | while read -r r; do ip route del $r proto 149; done
  for chain in DOCKER-USER FORWARD; do for dir in -i -o; do
    while iptables -w -D "$chain" "$dir" "$BRIDGE" -m comment --comment "kube-iaas:$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  done; done
  { losetup -a | grep -F "$WORK/" || true; } | cut -d: -f1 | while read -r d; do losetup -d "$d"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
# From the host, connect from 127.0.0.1: a connection with source $GW would be rewritten
# to the host's eth0 address by Docker's MASQUERADE rule for the kind subnet (it matches
# local traffic that leaves by lo) and be refused by the tenancy check.
ctl() { "$BIN/iaasctl" --endpoint "http://$GW:$PORT" --credentials "$WORK/credentials.yaml" --source-ip 127.0.0.1 "$@"; }

t0=$SECONDS
"$BIN/iaas-sim" --config "$WORK/config.yaml" --data-dir "$WORK/data" --listen "$GW:$PORT" \
  --admin-listen 127.0.0.1:0 --ready-file "$WORK/ready.json" \
  --instance-backend docker --docker-label "io.x-k8s.kind.cluster=$CLUSTER" \
  --router host --router-bridge "$BRIDGE" --router-cidrs "$POD_SUBNET" \
  --lb kernel --lb-link "$BRIDGE" --lb-nft-table "$NFT_TABLE" --disks loop >"$WORK/iaas-sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 100); do [[ -s $WORK/ready.json ]] && break; sleep 0.1; done
[[ -s $WORK/ready.json ]] || { tail -20 "$WORK/iaas-sim.log"; exit 1; }
log "iaas-sim ready in $((SECONDS - t0))s"

out=$(ctl DescribeInstances)
echo "$out" | grep -E '"(instanceId|name|state)"' >&2
nodes=$(docker ps -q --filter "label=io.x-k8s.kind.cluster=$CLUSTER" | wc -l)
running=$(echo "$out" | grep -c '"state": "RUNNING"' || true)
log "DescribeInstances: $running RUNNING of $nodes node containers"
[[ $running -eq $nodes && $nodes -gt 0 ]] || { echo "FAIL: instances" >&2; exit 1; }

node=$CLUSTER-worker
ins=$(ctl DescribeInstances "{\"names\":[\"$node\"]}" | sed -n 's/.*"instanceId": "\([^"]*\)".*/\1/p' | head -n1)
t0=$SECONDS
DISK=$(ctl CreateDisk '{"name":"smoke","zone":"sim-1a","sizeGiB":1,"clientToken":"kind-smoke"}' --wait | sed -n 's/.*"diskId": "\([^"]*\)".*/\1/p' | head -n1)
ctl AttachDisk "{\"diskId\":\"$DISK\",\"instanceId\":\"$ins\"}" --wait >/dev/null
log "disk $DISK created and attached to $node ($ins) in $((SECONDS - t0))s"
docker exec "$node" ls -l "/dev/disk/by-id/iaas-$DISK" >&2
size=$(docker exec "$node" blockdev --getsize64 "/dev/disk/by-id/iaas-$DISK")
log "inside $node: /dev/disk/by-id/iaas-$DISK, $size bytes"
[[ $size -eq $((1 << 30)) ]] || { echo "FAIL: size $size" >&2; exit 1; }
t0=$SECONDS
ctl DetachDisk "{\"diskId\":\"$DISK\",\"instanceId\":\"${ins:-}\"}" --wait >/dev/null
if docker exec "$node" test -e "/dev/disk/by-id/iaas-$DISK"; then echo "FAIL: device left after detach" >&2; exit 1; fi
log "detached in $((SECONDS - t0))s; the device is gone from $node"

# --- Routes and a load balancer through the simulator's data plane (SMOKE_NET=0 skips).
# Needs pods: when the nodes have no CNI config yet (our CNI config writer is issue 6's
# work), a ptp + host-local config from each node's podCIDR is written as a stand-in,
# which adds no cross-node routes: pods on two nodes reach each other only through
# the VPC router (the host), that is only once the routes exist.
if [[ ${SMOKE_NET:-1} == 1 ]]; then
  export KUBECONFIG=${KIND_KUBECONFIG:-$KIND_ROOT/$CLUSTER.kubeconfig}
  K=$KUBE_BIN/kubectl
  for n in $(docker ps --format '{{.Names}}' --filter "label=io.x-k8s.kind.cluster=$CLUSTER"); do
    if [[ -z "$(docker exec "$n" ls /etc/cni/net.d)" ]]; then
      cidr=$($K get node "$n" -o jsonpath='{.spec.podCIDR}')
      docker exec -i "$n" tee /etc/cni/net.d/10-smoke.conflist >/dev/null <<JSON
{"cniVersion":"0.4.0","name":"smoke","plugins":[
 {"type":"ptp","ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"$cidr"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}
JSON
    fi
  done
  $K delete svc smoke --ignore-not-found >/dev/null # a failed run's
  # kube-proxy's image is the only local one with a shell and socat.
  for w in worker worker2; do
    $K apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: smoke-$w, labels: {app: smoke-$w}}
spec:
  nodeName: $CLUSTER-$w
  tolerations: [{operator: Exists}]
  containers:
  - name: c
    image: $KUBE_REGISTRY/kube-proxy:$KUBE_VERSION
    imagePullPolicy: Never
    command: [socat, "TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo pong-$w"]
YAML
  done
  t0=$SECONDS
  $K wait --for=condition=Ready pod/smoke-worker pod/smoke-worker2 --timeout=120s >/dev/null
  log "two pods Ready in $((SECONDS - t0))s"
  ip2=$($K get pod smoke-worker2 -o jsonpath='{.status.podIP}')
  reach() { $K exec smoke-worker -- timeout 2 socat - "TCP:$ip2:8080" 2>/dev/null; }
  if reach >/dev/null; then echo "FAIL: pod -> pod across nodes works without routes" >&2; exit 1; fi
  routes=""
  for n in $(docker ps --format '{{.Names}}' --filter "label=io.x-k8s.kind.cluster=$CLUSTER"); do
    id=$(ctl DescribeInstances "{\"names\":[\"$n\"]}" | sed -n 's/.*"instanceId": "\([^"]*\)".*/\1/p' | head -n1)
    routes+="${routes:+,}{\"destinationCidr\":\"$($K get node "$n" -o jsonpath='{.spec.podCIDR}')\",\"nextHopInstanceId\":\"$id\"}"
  done
  t0=$SECONDS
  ctl CreateRoutes "{\"routeTableId\":\"rtb-kind\",\"clientToken\":\"smoke\",\"routes\":[$routes]}" --wait >/dev/null
  for _ in $(seq 20); do out=$(reach) && break; sleep 0.5; done
  [[ ${out:-} == pong-worker2 ]] || { echo "FAIL: pod -> pod with routes: '${out:-}'" >&2; ip route >&2; exit 1; }
  log "pod on worker -> pod on worker2 through the VPC router: ok ($((SECONDS - t0))s after CreateRoutes)"
  # Layer 1 LB (VIP -> every node's NodePort) + layer 2 (kube-proxy -> pod, across
  # nodes through the routes).
  $K expose pod smoke-worker2 --name smoke --type NodePort --port 8080 >/dev/null
  np=$($K get svc smoke -o jsonpath='{.spec.ports[0].nodePort}')
  backends=""
  for n in $(docker ps --format '{{.Names}}' --filter "label=io.x-k8s.kind.cluster=$CLUSTER"); do
    nodeip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$n")
    backends+="${backends:+,}{\"ip\":\"$nodeip\",\"port\":$np}"
  done
  # kube-proxy programs the NodePort a moment after the Service exists; a backend whose
  # first health check fails is out until it passes again, so wait for it here.
  for _ in $(seq 40); do timeout 1 bash -c "exec 3<>/dev/tcp/$nodeip/$np" 2>/dev/null && break; sleep 0.25; done
  t0=$SECONDS
  lb=$(ctl CreateLoadBalancer "{\"name\":\"smoke\",\"type\":\"public\",\"vpcId\":\"vpc-kind\",\"clientToken\":\"smoke-lb\",
    \"listeners\":[{\"protocol\":\"TCP\",\"port\":80,\"backends\":[$backends]}]}" --wait | sed -n 's/.*"loadBalancerId": "\([^"]*\)".*/\1/p' | head -n1)
  vip=$(ctl DescribeLoadBalancers "{\"loadBalancerIds\":[\"$lb\"]}" | sed -n 's/.*"vip": "\([^"]*\)".*/\1/p' | head -n1)
  for _ in $(seq 40); do out=$(timeout 2 bash -c "exec 3<>/dev/tcp/$vip/80; cat <&3" 2>/dev/null) && [[ $out == pong-worker2 ]] && break; sleep 0.5; done
  [[ ${out:-} == pong-worker2 ]] || { echo "FAIL: LB $vip:80 -> NodePort $np: '${out:-}'" >&2; exit 1; }
  log "host -> VIP $vip:80 -> NodePort $np -> pod: ok ($((SECONDS - t0))s after CreateLoadBalancer)"
  ctl DeleteLoadBalancer "{\"loadBalancerId\":\"$lb\"}" --wait >/dev/null
  $K delete svc smoke >/dev/null
  ids=$(ctl DescribeRouteTables '{"routeTableIds":["rtb-kind"]}' | sed -n 's/.*"routeId": "\([^"]*\)".*/"\1"/p' | paste -sd,)
  ctl DeleteRoutes "{\"routeTableId\":\"rtb-kind\",\"routeIds\":[$ids]}" --wait >/dev/null
  if reach >/dev/null; then echo "FAIL: pod -> pod still works after DeleteRoutes" >&2; exit 1; fi
  log "after DeleteRoutes: unreachable again"

  $K delete pod smoke-worker smoke-worker2 --wait=false >/dev/null
fi
echo "sim-smoke: ok"
