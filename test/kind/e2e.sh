#!/usr/bin/env bash
# The kind end-to-end stage (issue 6): Docker, the offline images, a kind cluster, the
# simulated IaaS on the host (docker backend over the cluster's node containers, host
# router, nftables load balancers, loop-device disks), our images loaded into the nodes,
# manifests/overlays/kind applied with this run's endpoint and credentials, readiness,
# then `go test ./...` in test/e2e with KUBE_IAAS_E2E=1. Always cleans up (trap): the
# cluster (unless E2E_KEEP_CLUSTER=1), the simulator and what its data plane left on the
# host (nft table, routes, iptables accepts, loop devices). Prints the time of each step.
#
#   test/kind/e2e.sh                      # everything
#   E2E_KEEP_CLUSTER=1 test/kind/e2e.sh   # keep the cluster (and stop only the simulator)
#   E2E_RUN=TestLoadBalancer test/kind/e2e.sh   # go test -run
#   E2E_SKIP_BUILD=1 test/kind/e2e.sh     # no build-all.sh; the images must exist
#
# Logs of every component go to $E2E_ARTIFACTS (default /var/tmp/kube-iaas-e2e-<time>)
# when a step or a test fails.
source "$(dirname "$0")/lib.sh"
source "$KIND_SRC_DIR/images.env"
CLUSTER=${KIND_CLUSTER:-kube-iaas}
POD_SUBNET=${KIND_POD_SUBNET:-10.245.0.0/16}
PORT=${SIM_PORT:-7790}
ARTIFACTS=${E2E_ARTIFACTS:-/var/tmp/kube-iaas-e2e-$(date -u +%Y%m%dT%H%M%S)}
WORK=$(mktemp -d /var/tmp/kube-iaas-e2e-sim.XXXXXX)
BIN=$REPO_ROOT/bin
NFT_TABLE=kube_iaas_e2e
PUBLIC_POOL=${E2E_PUBLIC_POOL:-172.31.242.0/24} INTERNAL_POOL=${E2E_INTERNAL_POOL:-172.31.243.0/24}
KUBECONFIG=${KIND_KUBECONFIG:-$KIND_ROOT/$CLUSTER.kubeconfig}
export KUBECONFIG KIND_CLUSTER=$CLUSTER KIND_POD_SUBNET=$POD_SUBNET
K=$KUBE_BIN/kubectl
T_ALL=$SECONDS
TIMINGS=()

# timed NAME CMD...: like lib.sh's step, and remembered for the summary.
STEP_NAME="" STEP_T0=0
timed() {
  STEP_NAME=$1 STEP_T0=$SECONDS
  shift
  step "$STEP_NAME" "$@"
  TIMINGS+=("$(printf '%-30s %5ss' "$STEP_NAME" $((SECONDS - STEP_T0)))")
  STEP_NAME=""
}

SIM_PID="" BRIDGE="" CREATED_CLUSTER=0
collect_logs() {
  mkdir -p "$ARTIFACTS"
  log "collecting logs into $ARTIFACTS"
  cp "$WORK/iaas-sim.log" "$WORK/manifests.yaml" "$ARTIFACTS/" 2>/dev/null
  [[ -s $KUBECONFIG ]] || return 0
  $K get nodes -o wide >"$ARTIFACTS/nodes.txt" 2>&1
  $K get nodes -o yaml >"$ARTIFACTS/nodes.yaml" 2>&1
  $K get pods -A -o wide >"$ARTIFACTS/pods.txt" 2>&1
  $K get events -A --sort-by=.lastTimestamp >"$ARTIFACTS/events.txt" 2>&1
  $K get pv,pvc,volumeattachments,svc -A -o wide >"$ARTIFACTS/storage-services.txt" 2>&1
  local ns pod c
  while read -r ns pod; do
    for c in $($K -n "$ns" get pod "$pod" -o jsonpath='{.spec.containers[*].name}' 2>/dev/null); do
      $K -n "$ns" logs "$pod" -c "$c" >"$ARTIFACTS/$ns.$pod.$c.log" 2>&1
      $K -n "$ns" logs "$pod" -c "$c" --previous >"$ARTIFACTS/$ns.$pod.$c.previous.log" 2>/dev/null || rm -f "$ARTIFACTS/$ns.$pod.$c.previous.log"
    done
  done < <($K get pods -n kube-system --no-headers -o custom-columns=NS:.metadata.namespace,N:.metadata.name 2>/dev/null)
  local n
  for n in $(docker ps -a --format '{{.Names}}' --filter "label=io.x-k8s.kind.cluster=$CLUSTER"); do
    docker exec "$n" journalctl -u kubelet --no-pager -n 400 >"$ARTIFACTS/$n.kubelet.log" 2>&1
  done
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [[ -n $STEP_NAME ]] && TIMINGS+=("$(printf '%-30s %5ss  FAILED' "$STEP_NAME" $((SECONDS - STEP_T0)))") && STEP_NAME=""
  ((rc != 0)) && collect_logs
  if [[ ${E2E_KEEP_CLUSTER:-0} != 1 ]] && ((CREATED_CLUSTER)); then
    # The cluster first: its node containers hold the mounts of the loop devices.
    timed "delete cluster $CLUSTER" "$KIND_SRC_DIR/delete-cluster.sh"
  fi
  if [[ -n $SIM_PID ]]; then kill "$SIM_PID" && wait "$SIM_PID" 2>/dev/null; fi
  # What a simulator keeps after a plain exit (so that it can restart): remove it.
  nft delete table ip "$NFT_TABLE" 2>/dev/null
  for c in $POD_SUBNET $PUBLIC_POOL $INTERNAL_POOL; do ip route del unreachable "$c" 2>/dev/null; done
  # By destination only: once the cluster is gone the routes read "... linkdown".
  ip route show proto 149 root "$POD_SUBNET" | awk '{print $1}' | while read -r d; do ip route del "$d" proto 149; done
  if [[ -n $BRIDGE ]]; then
    for chain in DOCKER-USER FORWARD; do for dir in -i -o; do
      while iptables -w -D "$chain" "$dir" "$BRIDGE" -m comment --comment "kube-iaas:$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
    done; done
    # VIPs the load balancers left on the bridge.
    for c in $PUBLIC_POOL $INTERNAL_POOL; do
      ip -4 -o addr show dev "$BRIDGE" | awk '{print $4}' | while read -r a; do
        python3 -c "import ipaddress,sys; sys.exit(0 if ipaddress.ip_interface('$a').ip in ipaddress.ip_network('$c') else 1)" 2>/dev/null &&
          ip addr del "$a" dev "$BRIDGE"
      done
    done
  fi
  { losetup -a | grep -F "$WORK/" || true; } | cut -d: -f1 | while read -r d; do losetup -d "$d"; done
  rm -rf "$WORK"
  log "e2e: total $((SECONDS - T_ALL))s"
  printf '  %s\n' "${TIMINGS[@]}" >&2
  if ((rc == 0)); then log "e2e: PASS"; else log "e2e: FAIL (rc $rc; logs in $ARTIFACTS)"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

timed "docker" "$KIND_SRC_DIR/docker.sh" start
# build-all.sh: Kubernetes, the node image, our images and the CSI sidecars (cached).
# E2E_SKIP_BUILD=1 only checks that the images exist (when another process builds them).
[[ ${E2E_SKIP_BUILD:-0} == 1 ]] || timed "build images (build-all.sh)" "$KIND_SRC_DIR/build-all.sh"
build_ours() {
  (cd "$REPO_ROOT" && go build -o "$BIN/" ./cmd/iaas-sim ./cmd/iaasctl)
  local img missing=0
  for img in "${KUBE_IAAS_IMAGES[@]}"; do image_exists "$img" || { log "missing image $img"; missing=1; }; done
  return $missing
}
timed "build iaas-sim, check images" build_ours

kind=$("$KIND_SRC_DIR/install-kind.sh")
"$kind" get clusters 2>/dev/null | grep -qx "$CLUSTER" || CREATED_CLUSTER=1
timed "create cluster" "$KIND_SRC_DIR/create-cluster.sh" >/dev/null

# --- The simulated IaaS, as in sim-smoke.sh: API on the kind network's gateway, the
# node containers of this cluster are the tenant's instances.
net_id=$(docker network inspect kind -f '{{.Id}}')
BRIDGE=br-${net_id:0:12}
read -r SUBNET GW < <(docker network inspect kind -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{"\n"}}{{end}}' | awk '$1 ~ /\./ {print; exit}')
log "kind network: bridge $BRIDGE subnet $SUBNET gateway $GW"
ENDPOINT=http://$GW:$PORT
cat >"$WORK/credentials.yaml" <<YAML
accessKeyId: AKE2E
secretKey: e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
YAML
read -r AK SK < <(awk '/accessKeyId/{a=$2} /secretKey/{s=$2} END{print a, s}' "$WORK/credentials.yaml")
cat >"$WORK/config.yaml" <<YAML
region: sim-1
zones: [sim-1a]
loadBalancerPools: {public: $PUBLIC_POOL, internal: $INTERNAL_POOL}
tenants:
  - name: $CLUSTER
    accessKeys: [{accessKeyId: $AK, secretKey: $SK}]
    adminCidrs: [127.0.0.1/32]
    vpcs:
      - vpcId: vpc-kind
        name: kind
        cidrBlock: $SUBNET
        routeTables: [{routeTableId: rtb-kind, name: default}]
YAML
start_sim() {
  "$BIN/iaas-sim" --config "$WORK/config.yaml" --data-dir "$WORK/data" --listen "$GW:$PORT" \
    --admin-listen 127.0.0.1:0 --ready-file "$WORK/ready.json" --task-delay 50ms \
    --instance-backend docker --docker-label "io.x-k8s.kind.cluster=$CLUSTER" --instance-sync-interval 1s \
    --docker-stop-timeout "${E2E_STOP_TIMEOUT:-1s}" \
    --router host --router-bridge "$BRIDGE" --router-cidrs "$POD_SUBNET" \
    --lb kernel --lb-link "$BRIDGE" --lb-nft-table "$NFT_TABLE" --disks loop >"$WORK/iaas-sim.log" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 100); do [[ -s $WORK/ready.json ]] && return 0; sleep 0.1; done
  tail -20 "$WORK/iaas-sim.log" >&2
  return 1
}
timed "start iaas-sim" start_sim

timed "load images" "$KIND_SRC_DIR/load-images.sh" "$CLUSTER"

snapshot_crds() {
  local dir=$SNAPSHOT_CRDS_DIR
  if [[ ! -d $dir ]]; then # build-sidecars.sh makes it; without it, the module cache has them
    dir=$(go mod download -json "github.com/kubernetes-csi/external-snapshotter/client/v8@$CSI_SNAPSHOTTER_VERSION" |
      sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')/config/crd
  fi
  local f
  for f in "$dir"/snapshot.storage.k8s.io_*.yaml; do $K apply --server-side -f "$f" >/dev/null; done
  $K wait --for=condition=Established --timeout=60s crd/volumesnapshots.snapshot.storage.k8s.io \
    crd/volumesnapshotcontents.snapshot.storage.k8s.io crd/volumesnapshotclasses.snapshot.storage.k8s.io >/dev/null
}

# The overlay with this run's endpoint, credentials and images: a kustomization in
# $WORK on top of manifests/overlays/kind (kustomize wants a relative path to it).
render() {
  local ov=$WORK/overlay img
  mkdir -p "$ov"
  cp "$WORK/credentials.yaml" "$ov/credentials.yaml"
  sed -e "s#^endpoint: .*#endpoint: $ENDPOINT#" -e "s#^clusterId: .*#clusterId: $CLUSTER#" \
    "$REPO_ROOT/manifests/overlays/kind/cloud-config.yaml" >"$ov/cloud-config.yaml"
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources: [$(realpath --relative-to="$ov" "$REPO_ROOT/manifests/overlays/kind")]"
    echo "secretGenerator:"
    echo "- {name: iaas-cloud-config, namespace: kube-system, behavior: replace, files: [cloud-config.yaml, credentials.yaml]}"
    echo "images:"
    for img in "CCM_IMAGE kube-iaas/iaas-cloud-controller-manager" "CSI_DRIVER_IMAGE kube-iaas/iaas-csi-driver" \
      "CNI_CONFIG_IMAGE kube-iaas/iaas-cni-config" "CSI_PROVISIONER_IMAGE kube-iaas/csi-provisioner" \
      "CSI_ATTACHER_IMAGE kube-iaas/csi-attacher" "CSI_RESIZER_IMAGE kube-iaas/csi-resizer" \
      "CSI_SNAPSHOTTER_IMAGE kube-iaas/csi-snapshotter" "SNAPSHOT_CONTROLLER_IMAGE kube-iaas/snapshot-controller"; do
      set -- $img
      local ref=${!1}
      echo "- {name: $2, newName: ${ref%:*}, newTag: \"${ref##*:}\"}"
    done
  } >"$ov/kustomization.yaml"
  $K kustomize "$ov" >"$WORK/manifests.yaml"
}

deploy() {
  snapshot_crds
  render
  $K apply -f "$WORK/manifests.yaml" >/dev/null
}
timed "apply manifests" deploy

wait_ready() {
  local ns=kube-system
  $K -n $ns rollout status ds/iaas-cni-config --timeout=120s
  $K -n $ns rollout status deploy/iaas-cloud-controller-manager --timeout=120s
  $K wait --for=condition=Ready nodes --all --timeout=180s
  # The CCM has initialized every node: providerID set, uninitialized taint gone.
  local i
  for i in $(seq 120); do
    if [[ -z $($K get nodes -o jsonpath='{range .items[*]}{.spec.taints[?(@.key=="node.cloudprovider.kubernetes.io/uninitialized")].key}{end}') ]] &&
      ! $K get nodes -o jsonpath='{range .items[*]}{.spec.providerID}{"\n"}{end}' | grep -qv '^iaas://'; then break; fi
    sleep 1
  done
  ((i < 120)) || { log "nodes not initialized by the CCM"; return 1; }
  $K -n $ns rollout status deploy/iaas-csi-controller --timeout=180s
  $K -n $ns rollout status ds/iaas-csi-node --timeout=180s
  $K -n $ns rollout status deploy/snapshot-controller --timeout=120s
  # Every node's kubelet knows the driver (self-registration through plugins_registry).
  local want
  want=$($K get nodes --no-headers | wc -l)
  for i in $(seq 120); do
    [[ $($K get csinodes -o jsonpath='{range .items[*]}{.spec.drivers[*].name}{"\n"}{end}' | grep -c disk.csi.kube-iaas.io) -eq $want ]] && return 0
    sleep 1
  done
  log "the CSI driver is not registered on every node"
  return 1
}
timed "wait for readiness" wait_ready

run_tests() {
  (cd "$REPO_ROOT/test/e2e" && KUBE_IAAS_E2E=1 IAAS_ENDPOINT=$ENDPOINT IAAS_CREDENTIALS=$WORK/credentials.yaml \
    IAAS_SOURCE_IP=127.0.0.1 IAAS_ROUTE_TABLE=rtb-kind IAAS_CLUSTER_ID=$CLUSTER E2E_ARTIFACTS=$ARTIFACTS \
    E2E_IMAGE=${E2E_IMAGE:-$KUBE_REGISTRY/kube-proxy:$KUBE_VERSION} \
    go test -count=1 -v -timeout "${E2E_TIMEOUT:-25m}" ${E2E_RUN:+-run "$E2E_RUN"} ./...)
}
timed "go test ./test/e2e/..." run_tests
