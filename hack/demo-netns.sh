#!/usr/bin/env bash
# make demo-netns: the simulated IaaS with its real data plane on this machine. Two instances
# (network namespaces on a bridge) run a web server; a load balancer made through the API
# spreads requests over them; a network disk is attached to one of them as a real block
# device, in a few seconds and without Docker. `make demo-netns-down` (this script with
# `down`) removes all of it. `make demo` is the full flow on a kind cluster (hack/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH:/usr/sbin:/sbin

DEMO=${KUBE_IAAS_DEMO_DIR:-/var/tmp/kube-iaas-demo}
BIN=$PWD/bin
API=127.0.0.1:7780
ADMIN=127.0.0.1:7781
BRIDGE=kidemo0
SUBNET=172.30.250.0/24
PREFIX=kidemo-
PUBLIC_POOL=172.31.250.0/24
INTERNAL_POOL=172.31.251.0/24
POD_CIDR=10.244.0.0/16
NFT_TABLE=kube_iaas_demo
T0=$(date +%s.%N)

step() { printf '\n[%5.1fs] \033[1m%s\033[0m\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }
ctl() { "$BIN/iaasctl" --endpoint "http://$API" --credentials "$DEMO/credentials.yaml" "$@"; }
json() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\}.*/\1/p" | head -n1; }

down() {
  step "Stopping the demo"
  for f in "$DEMO"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f"); kill "$pid" 2>/dev/null && echo "stopped $(basename "$f" .pid) (pid $pid)"; rm -f "$f"
  done
  sleep 0.5
  for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX" || true); do ip netns del "$ns"; done
  ip link del "$BRIDGE" 2>/dev/null || true
  # The simulator's iptables accept rules for the bridge (test/iaassim/dataplane/hostfw).
  if command -v iptables >/dev/null; then
    for chain in DOCKER-USER FORWARD; do
      for dir in -i -o; do
        while iptables -w -D "$chain" "$dir" "$BRIDGE" -m comment --comment "kube-iaas:$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
      done
    done
  fi
  nft delete table ip "$NFT_TABLE" 2>/dev/null || true
  for cidr in $POD_CIDR $PUBLIC_POOL $INTERNAL_POOL; do ip route del unreachable "$cidr" 2>/dev/null || true; done
  ip route show proto 149 root "$POD_CIDR" | while read -r r; do ip route del $r proto 149 2>/dev/null || true; done
  # Loop devices backed by the demo's disk files, and their by-id links.
  # (grep finds nothing when no disk is attached: not an error under pipefail)
  { losetup -a | grep -F "$DEMO/" || true; } | cut -d: -f1 | while read -r dev; do
    for link in /dev/disk/by-id/iaas-disk-*; do
      [ "$(readlink -f "$link")" = "$dev" ] && rm -f "$link"
    done
    losetup -d "$dev"
  done
  rm -rf "$DEMO"
  echo "demo removed"
}

if [ "${1:-up}" = down ]; then down; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "make demo-netns needs root (network namespaces, routes, loop devices)"; exit 1; fi
if [ -e "$DEMO/iaas-sim.pid" ]; then echo "a demo is running; make demo-netns-down first"; exit 1; fi

step "Installing what is missing (iproute2, nftables, util-linux, e2fsprogs)"
./hack/install-deps.sh
command -v bc >/dev/null || { apt-get install -y -qq bc >/dev/null; }

step "Building"
make -s build
go build -o "$BIN/demo-backend" ./hack/demo-backend

step "Starting the simulated IaaS on http://$API (admin http://$ADMIN)"
mkdir -p "$DEMO/data"
cat > "$DEMO/credentials.yaml" <<YAML
accessKeyId: AKDEMO
secretKey: demo-secret-key
YAML
cat > "$DEMO/config.yaml" <<YAML
region: sim-1
zones: [sim-1a]
loadBalancerPools: {public: $PUBLIC_POOL, internal: $INTERNAL_POOL}
tenants:
  - name: demo
    accessKeys: [{accessKeyId: AKDEMO, secretKey: demo-secret-key}]
    adminCidrs: [127.0.0.1/32]
    vpcs:
      - vpcId: vpc-demo
        name: demo
        cidrBlock: $SUBNET
        routeTables: [{routeTableId: rtb-demo, name: default}]
YAML
nohup "$BIN/iaas-sim" --config "$DEMO/config.yaml" --data-dir "$DEMO/data" \
  --listen "$API" --admin-listen "$ADMIN" --ready-file "$DEMO/ready.json" --task-delay 50ms \
  --instance-backend netns --netns-bridge "$BRIDGE" --netns-subnet "$SUBNET" --netns-prefix "$PREFIX" \
  --netns-instances node-1,node-2 --router host --router-cidrs "$POD_CIDR" \
  --lb kernel --lb-nft-table "$NFT_TABLE" --disks loop >"$DEMO/iaas-sim.log" 2>&1 &
echo $! > "$DEMO/iaas-sim.pid"
for _ in $(seq 100); do [ -s "$DEMO/ready.json" ] && break; sleep 0.1; done
[ -s "$DEMO/ready.json" ] || { echo "iaas-sim did not start:"; tail -20 "$DEMO/iaas-sim.log"; exit 1; }

step "Instances (network namespaces on bridge $BRIDGE)"
ctl DescribeInstances | grep -E '"(instanceId|name|state)"|"172\.' | sed 's/^ */  /'
IP1=$(ip netns exec "${PREFIX}node-1" ip -4 -o addr show | awk '$2!="lo"{print $4}' | cut -d/ -f1 | head -n1)
IP2=$(ip netns exec "${PREFIX}node-2" ip -4 -o addr show | awk '$2!="lo"{print $4}' | cut -d/ -f1 | head -n1)

step "A web server in each instance ($IP1:8080, $IP2:8080)"
for n in 1 2; do
  nohup ip netns exec "${PREFIX}node-$n" "$BIN/demo-backend" --listen :8080 --name "node-$n" >"$DEMO/backend-$n.log" 2>&1 &
  echo $! > "$DEMO/backend-$n.pid"
done

step "CreateLoadBalancer: TCP 80 -> both instances, HTTP health check on /healthz"
LB=$(ctl CreateLoadBalancer "{\"name\":\"demo-web\",\"type\":\"public\",\"vpcId\":\"vpc-demo\",\"clientToken\":\"demo-web\",
  \"listeners\":[{\"protocol\":\"TCP\",\"port\":80,
  \"backends\":[{\"ip\":\"$IP1\",\"port\":8080},{\"ip\":\"$IP2\",\"port\":8080}],
  \"healthCheck\":{\"protocol\":\"HTTP\",\"path\":\"/healthz\",\"intervalSeconds\":1,\"timeoutSeconds\":1,\"healthyThreshold\":1,\"unhealthyThreshold\":2}}]}" --wait)
LBID=$(echo "$LB" | json loadBalancerId)
VIP=$(ctl DescribeLoadBalancers "{\"loadBalancerIds\":[\"$LBID\"]}" | json vip)
echo "  $LBID has VIP $VIP"

step "Requests to http://$VIP/ through the load balancer"
ok=0
for i in $(seq 50); do
  if out=$(curl -s --max-time 2 "http://$VIP/"); then echo "  $out"; ok=$((ok + 1)); [ $ok -ge 6 ] && break; else sleep 0.2; fi
done
[ $ok -gt 0 ] || { echo "the load balancer did not answer"; tail -20 "$DEMO/iaas-sim.log"; exit 1; }

step "A 5 GiB network disk attached to node-1 as a real block device"
INS1=$(ctl DescribeInstances '{"names":["'"${PREFIX}node-1"'"]}' | json instanceId)
DISK=$(ctl CreateDisk '{"name":"demo-data","zone":"sim-1a","sizeGiB":5,"clientToken":"demo-data"}' --wait | json diskId)
ctl AttachDisk "{\"diskId\":\"$DISK\",\"instanceId\":\"$INS1\"}" --wait >/dev/null
echo "  /dev/disk/by-id/iaas-$DISK -> $(readlink -f "/dev/disk/by-id/iaas-$DISK") ($(($(blockdev --getsize64 "/dev/disk/by-id/iaas-$DISK") / 1024 / 1024 / 1024)) GiB)"

step "Ready"
cat <<TXT
  Talk to the IaaS (every request is HMAC-signed and must come from a tenant address):
    export IAAS_ENDPOINT=http://$API IAAS_CREDENTIALS=$DEMO/credentials.yaml
    bin/iaasctl actions
    bin/iaasctl DescribeLoadBalancers
    bin/iaasctl StopInstances '{"instanceIds":["$INS1"]}' --wait    # then curl again: node-2 only
    curl http://$VIP/
  Admin token:            TOK="Authorization: Bearer \$(cat $DEMO/data/admin-token)"
  Metrics and counters:   curl -H "\$TOK" http://$ADMIN/metrics ; curl -H "\$TOK" http://$ADMIN/admin/v1/counters
  Inject faults:          curl -H "\$TOK" -X PUT http://$ADMIN/admin/v1/faults/CreateDisk -d '{"errorRate":0.5}'
  Logs:                   $DEMO/iaas-sim.log
  Tear down:              make demo-netns-down
TXT
