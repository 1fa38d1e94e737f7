#!/usr/bin/env bash
# down.sh: undoes up.sh for $KIND_CLUSTER (default kube-iaas): the kind cluster, the
# simulator (only the process up.sh started, by its recorded PID) and what its data
# plane keeps on the host after a plain exit so that it can restart (nftables table,
# routes, unreachable routes, iptables accepts, VIPs on the kind bridge, loop devices),
# then the state directory. Stops dockerd too when docker.sh started it and no other
# cluster needs it. Safe to run twice or after a failed up.sh.
source "$(dirname "$0")/lib.sh"
source "$KIND_SRC_DIR/profile.sh"
set +e
T_DOWN=$SECONDS
kind=$("$KIND_SRC_DIR/install-kind.sh")
# Docker may be down (after a restart of the machine) while the cluster's containers
# still exist: start it, or the next up.sh would find the cluster with its state gone.
if [[ -d $STATE ]] && ! "$KIND_SRC_DIR/docker.sh" status >/dev/null 2>&1; then
  "$KIND_SRC_DIR/docker.sh" start
fi
DOCKER_UP=0
"$KIND_SRC_DIR/docker.sh" status >/dev/null 2>&1 && DOCKER_UP=1
if ((DOCKER_UP)); then
  # The cluster first: its node containers hold the mounts of the loop devices.
  if "$kind" get clusters 2>/dev/null | grep -x "$CLUSTER" >/dev/null; then
    step "delete cluster $CLUSTER" "$KIND_SRC_DIR/delete-cluster.sh" ||
      { log "down: cluster $CLUSTER not deleted; state kept in $STATE"; exit 1; }
  fi
fi
rm -f "$KUBECONFIG"
if pid=$(sim_pid); then
  kill "$pid"
  for _ in $(seq 100); do sim_pid >/dev/null || break; sleep 0.1; done
  if sim_pid >/dev/null; then kill -KILL "$pid"; sleep 0.5; fi
  if sim_pid >/dev/null; then log "down: iaas-sim $pid does not stop; state kept in $STATE"; exit 1; fi
  log "iaas-sim $pid stopped"
fi
BRIDGE=""
[[ -s $STATE/env ]] && source "$STATE/env"
# A first up.sh that failed early wrote no env file.
if [[ -z $BRIDGE ]] && ((DOCKER_UP)) && docker network inspect kind >/dev/null 2>&1; then kind_network; fi
nft delete table ip "$NFT_TABLE" 2>/dev/null
for c in $POD_SUBNET $PUBLIC_POOL $INTERNAL_POOL; do ip route del unreachable "$c" 2>/dev/null; done
# By destination only: once the cluster is gone the routes read "... linkdown".
ip route show proto 149 root "$POD_SUBNET" | awk '{print $1}' | while read -r d; do ip route del "$d" proto 149; done
OTHERS=$(other_clusters)
if [[ -n $BRIDGE ]]; then
  # The accept rules are per bridge, and every kind cluster shares Docker's kind
  # bridge: they stay while another cluster's simulator may rely on them.
  if [[ -z $OTHERS ]]; then
    for chain in DOCKER-USER FORWARD; do for dir in -i -o; do
      while iptables -w -D "$chain" "$dir" "$BRIDGE" -m comment --comment "kube-iaas:$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
    done; done
  fi
  # VIPs the load balancers left on the bridge (this cluster's pools only).
  for c in $PUBLIC_POOL $INTERNAL_POOL; do
    ip -4 -o addr show dev "$BRIDGE" to "$c" 2>/dev/null | awk '{print $4}' | while read -r a; do
      ip addr del "$a" dev "$BRIDGE"
    done
  done
fi
# The disks' loop devices, with those a node's kubelet stacked on them (raw block
# volumes) that outlived the node: the simulator's subcommand finds those by device number.
if [[ -x $BIN/iaas-sim && -d $STATE/data ]]; then "$BIN/iaas-sim" detach-disks --data-dir "$STATE/data"; fi
{ losetup -a | grep -F "$STATE/" || true; } | cut -d: -f1 | while read -r d; do losetup -d "$d"; done
rm -rf "$STATE"
# dockerd only if docker.sh started it, no other cluster's state exists (another up.sh
# may be building images with no container yet) and no kind container is left.
if ((DOCKER_UP)) && [[ -z $OTHERS && -z $(docker ps -aq --filter label=io.x-k8s.kind.cluster 2>/dev/null) ]]; then
  "$KIND_SRC_DIR/docker.sh" stop
fi
log "down: $CLUSTER removed in $((SECONDS - T_DOWN))s"
