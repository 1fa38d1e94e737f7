#!/usr/bin/env bash
# down.sh: undoes up.sh for $KIND_CLUSTER (default kube-iaas): the kind cluster, the
# simulator (only the process up.sh started, by its recorded PID) and what its data
# plane keeps on the host after a plain exit so that it can restart (nftables table,
# routes, unreachable routes, iptables accepts, VIPs on the kind bridge, loop devices),
# then the state directory. Stops dockerd too when docker.sh started it and no
# container is left running. Safe to run twice or after a failed up.sh.
source "$(dirname "$0")/lib.sh"
source "$KIND_SRC_DIR/profile.sh"
set +e
T_DOWN=$SECONDS
kind=$("$KIND_SRC_DIR/install-kind.sh")
if "$KIND_SRC_DIR/docker.sh" status >/dev/null 2>&1; then
  # The cluster first: its node containers hold the mounts of the loop devices.
  if "$kind" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    step "delete cluster $CLUSTER" "$KIND_SRC_DIR/delete-cluster.sh"
  fi
fi
rm -f "$KUBECONFIG"
if pid=$(sim_pid); then
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  log "iaas-sim $pid stopped"
fi
[[ -s $STATE/env ]] && source "$STATE/env"
nft delete table ip "$NFT_TABLE" 2>/dev/null
for c in $POD_SUBNET $PUBLIC_POOL $INTERNAL_POOL; do ip route del unreachable "$c" 2>/dev/null; done
# By destination only: once the cluster is gone the routes read "... linkdown".
ip route show proto 149 root "$POD_SUBNET" | awk '{print $1}' | while read -r d; do ip route del "$d" proto 149; done
if [[ -n ${BRIDGE:-} ]]; then
  for chain in DOCKER-USER FORWARD; do for dir in -i -o; do
    while iptables -w -D "$chain" "$dir" "$BRIDGE" -m comment --comment "kube-iaas:$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  done; done
  # VIPs the load balancers left on the bridge.
  for c in $PUBLIC_POOL $INTERNAL_POOL; do
    ip -4 -o addr show dev "$BRIDGE" to "$c" 2>/dev/null | awk '{print $4}' | while read -r a; do
      ip addr del "$a" dev "$BRIDGE"
    done
  done
fi
{ losetup -a | grep -F "$STATE/" || true; } | cut -d: -f1 | while read -r d; do losetup -d "$d"; done
rm -rf "$STATE"
if [[ -z $(docker ps -q 2>/dev/null) ]]; then "$KIND_SRC_DIR/docker.sh" stop; fi
log "down: $CLUSTER removed in $((SECONDS - T_DOWN))s"
