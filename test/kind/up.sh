#!/usr/bin/env bash
# up.sh: a kind cluster running kube-iaas against the simulated IaaS, from nothing:
# Docker, the offline images (cached), the cluster, the simulator on the host (docker
# backend over the cluster's node containers, host VPC router, nftables load balancers,
# loop-device disks), our images loaded into the nodes, manifests/overlays/kind applied
# with this cluster's endpoint and key, and readiness (CCM initialized every node, CSI
# driver registered everywhere). Idempotent: a second run reuses the cluster, rebuilds
# only what changed, restarts the simulator on its durable state and rolls out changed
# images. Prints the time of each step. Undo with down.sh.
#
#   KIND_CLUSTER=kube-iaas      which cluster (profile.sh has the per-cluster parameters)
#   UP_SKIP_BUILD=1             no build-all.sh; the images must exist
source "$(dirname "$0")/lib.sh"
source "$KIND_SRC_DIR/images.env"
source "$KIND_SRC_DIR/profile.sh"
[[ $(id -u) == 0 ]] || { log "up.sh needs root (Docker, routes, nftables, loop devices)"; exit 1; }
mkdir -p "$STATE"
T_UP=$SECONDS
UP_TIMINGS=()
timed() {
  local name=$1 t0=$SECONDS
  shift
  step "$name" "$@"
  UP_TIMINGS+=("$(printf '%-32s %5ss' "$name" $((SECONDS - t0)))")
}

# Every kind node runs systemd and kubelet, each with its own inotify instances: at the
# kernel's default of 128 per user a second cluster, or a restarted node, fails with
# "Too many open files" (kind's known issues ask for 512 and 524288).
raise_inotify() {
  local key want cur
  for key in max_user_instances:512 max_user_watches:524288; do
    want=${key#*:} key=${key%%:*}
    cur=$(cat "/proc/sys/fs/inotify/$key")
    if ((cur < want)); then
      echo "$want" >"/proc/sys/fs/inotify/$key" && log "fs.inotify.$key $cur -> $want"
    fi
  done
}
raise_inotify
timed "docker" "$KIND_SRC_DIR/docker.sh" start
[[ ${UP_SKIP_BUILD:-0} == 1 ]] || timed "build images (cached)" "$KIND_SRC_DIR/build-all.sh"
build_ours() {
  (cd "$REPO_ROOT" && go build -o "$BIN/" ./cmd/iaas-sim ./cmd/iaasctl)
  local img missing=0
  for img in "${KUBE_IAAS_IMAGES[@]}"; do image_exists "$img" || { log "missing image $img"; missing=1; }; done
  return $missing
}
timed "build iaas-sim, check images" build_ours
timed "create cluster $CLUSTER" "$KIND_SRC_DIR/create-cluster.sh" >/dev/null
# A kept cluster may have stopped nodes: an instance stopped through the IaaS (the demo's
# failover recipe) and never started again, or every node after dockerd restarted. Up
# means running: start them (the simulator sees them RUNNING at its next sync).
start_stopped_nodes() {
  local stopped
  stopped=$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$CLUSTER" --filter status=exited --filter status=created)
  [[ -z $stopped ]] && return 0
  log "starting stopped nodes of $CLUSTER: $(docker inspect -f '{{.Name}}' $stopped | tr -d / | tr '\n' ' ')"
  docker start $stopped >/dev/null
}
timed "start stopped nodes" start_stopped_nodes

kind_network
log "kind network: bridge $BRIDGE subnet $SUBNET gateway $GW; simulator API $ENDPOINT"
if [[ ! -s $STATE/credentials.yaml ]]; then
  umask 077
  printf 'accessKeyId: AK%s\nsecretKey: %s\n' "$(echo "$CLUSTER" | tr a-z- A-Z_)" \
    "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$STATE/credentials.yaml"
  umask 022
fi
read -r AK SK < <(awk '/accessKeyId/{a=$2} /secretKey/{s=$2} END{print a, s}' "$STATE/credentials.yaml")
cat >"$STATE/config.yaml" <<YAML
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
# Always a fresh simulator process on the durable state: it may be a new build, and a
# restart restores routes, load balancers and attachments from that state.
start_sim() {
  local pid
  if pid=$(sim_pid); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do sim_pid >/dev/null || break; sleep 0.1; done
    if sim_pid >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  fi
  rm -f "$STATE/ready.json"
  setsid "$BIN/iaas-sim" --config "$STATE/config.yaml" --data-dir "$STATE/data" --listen "$GW:$PORT" \
    --admin-listen 127.0.0.1:0 --ready-file "$STATE/ready.json" --task-delay 50ms \
    --instance-backend docker --docker-label "io.x-k8s.kind.cluster=$CLUSTER" --instance-sync-interval 1s \
    --docker-stop-timeout "${SIM_STOP_TIMEOUT:-1s}" \
    --router host --router-bridge "$BRIDGE" --router-cidrs "$POD_SUBNET" \
    --lb kernel --lb-link "$BRIDGE" --lb-nft-table "$NFT_TABLE" --disks loop \
    </dev/null >>"$STATE/iaas-sim.log" 2>&1 &
  echo $! >"$STATE/iaas-sim.pid"
  for _ in $(seq 100); do [[ -s $STATE/ready.json ]] && return 0; sleep 0.1; done
  tail -20 "$STATE/iaas-sim.log" >&2
  return 1
}
timed "start iaas-sim" start_sim

# Our images under a tag made of their image id, so that applying the manifests rolls
# out exactly the components whose image changed.
declare -A REF
content_tags() {
  local var img id
  for var in CCM_IMAGE CSI_DRIVER_IMAGE CNI_CONFIG_IMAGE DEMO_IMAGE; do
    img=${!var}
    id=$(docker image inspect -f '{{.Id}}' "$img")
    id=${id#sha256:}
    REF[$var]=${img%:*}:id-${id:0:12}
    docker tag "$img" "${REF[$var]}"
    # Older id tags of the repository would keep every old build alive.
    docker image ls --format '{{.Repository}}:{{.Tag}}' "${img%:*}" | grep ':id-' | grep -vxF "${REF[$var]}" |
      xargs -r docker rmi >/dev/null 2>&1 || true
  done
  for var in CSI_PROVISIONER_IMAGE CSI_ATTACHER_IMAGE CSI_RESIZER_IMAGE CSI_SNAPSHOTTER_IMAGE SNAPSHOT_CONTROLLER_IMAGE; do
    REF[$var]=${!var}
  done
  "$KIND_SRC_DIR/load-images.sh" "$CLUSTER" "${REF[@]}"
}
timed "load images" content_tags

snapshot_crds() {
  local dir=$SNAPSHOT_CRDS_DIR f
  if [[ ! -d $dir ]]; then # build-sidecars.sh makes it; without it, the module cache has them
    dir=$(go mod download -json "github.com/kubernetes-csi/external-snapshotter/client/v8@$CSI_SNAPSHOTTER_VERSION" |
      sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')/config/crd
  fi
  for f in "$dir"/snapshot.storage.k8s.io_*.yaml; do $K apply --server-side -f "$f" >/dev/null; done
  $K wait --for=condition=Established --timeout=60s crd/volumesnapshots.snapshot.storage.k8s.io \
    crd/volumesnapshotcontents.snapshot.storage.k8s.io crd/volumesnapshotclasses.snapshot.storage.k8s.io >/dev/null
}

# The Gateway API CRDs (standard channel) from the module cache, at the version go.mod
# requires: the CCM's Gateway controller looks for them when it starts, so they go in
# before the CCM; the GatewayClass iaas after them.
gateway_api_crds() {
  local dir f
  dir=$(cd "$REPO_ROOT" && go mod download -json sigs.k8s.io/gateway-api | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')/config/crd/standard
  for f in "$dir"/gateway.networking.k8s.io_*.yaml; do $K apply --server-side -f "$f" >/dev/null; done
  $K wait --for=condition=Established --timeout=60s crd/gatewayclasses.gateway.networking.k8s.io \
    crd/gateways.gateway.networking.k8s.io crd/httproutes.gateway.networking.k8s.io >/dev/null
}

# manifests/overlays/kind with this cluster's endpoint, key, images, pod subnet and
# name: a kustomization in $STATE on top of it (kustomize wants a relative path).
render() {
  local ov=$STATE/overlay spec
  mkdir -p "$ov"
  cp "$STATE/credentials.yaml" "$ov/credentials.yaml"
  sed -e "s#^endpoint: .*#endpoint: $ENDPOINT#" -e "s#^clusterId: .*#clusterId: $CLUSTER#" \
    "$REPO_ROOT/manifests/overlays/kind/cloud-config.yaml" >"$ov/cloud-config.yaml"
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources: [$(realpath --relative-to="$ov" "$REPO_ROOT/manifests/overlays/kind")]"
    echo "secretGenerator:"
    echo "- {name: iaas-cloud-config, namespace: kube-system, behavior: replace, files: [cloud-config.yaml, credentials.yaml]}"
    echo "images:"
    for spec in "CCM_IMAGE kube-iaas/iaas-cloud-controller-manager" "CSI_DRIVER_IMAGE kube-iaas/iaas-csi-driver" \
      "CNI_CONFIG_IMAGE kube-iaas/iaas-cni-config" "CSI_PROVISIONER_IMAGE kube-iaas/csi-provisioner" \
      "CSI_ATTACHER_IMAGE kube-iaas/csi-attacher" "CSI_RESIZER_IMAGE kube-iaas/csi-resizer" \
      "CSI_SNAPSHOTTER_IMAGE kube-iaas/csi-snapshotter" "SNAPSHOT_CONTROLLER_IMAGE kube-iaas/snapshot-controller"; do
      set -- $spec
      local ref=${REF[$1]}
      echo "- {name: $2, newName: ${ref%:*}, newTag: \"${ref##*:}\"}"
    done
  } >"$ov/kustomization.yaml"
  # The overlay is written for the default profile's pod subnet and cluster name.
  $K kustomize "$ov" | sed -e "s#10\.245\.0\.0/16#$POD_SUBNET#g" -e "s#--cluster-name=kube-iaas\$#--cluster-name=$CLUSTER#" \
    >"$STATE/manifests.yaml"
}
deploy() {
  snapshot_crds
  gateway_api_crds
  render
  $K apply -f "$STATE/manifests.yaml" >/dev/null
  $K apply -f "$REPO_ROOT/manifests/gateway-api/gatewayclass.yaml" >/dev/null
}
timed "apply manifests" deploy

wait_ready() {
  local ns=kube-system i want
  $K -n $ns rollout status ds/iaas-cni-config --timeout=120s
  $K -n $ns rollout status deploy/iaas-cloud-controller-manager --timeout=120s
  $K wait --for=condition=Ready nodes --all --timeout=180s
  # The CCM has initialized every node: providerID set, uninitialized taint gone.
  local initialized=0
  for i in $(seq 120); do
    if [[ -z $($K get nodes -o jsonpath='{range .items[*]}{.spec.taints[?(@.key=="node.cloudprovider.kubernetes.io/uninitialized")].key}{end}') ]] &&
      ! $K get nodes -o jsonpath='{range .items[*]}{.spec.providerID}{"\n"}{end}' | grep -v '^iaas://' >/dev/null; then
      initialized=1
      break
    fi
    sleep 1
  done
  ((initialized)) || { log "nodes not initialized by the CCM"; return 1; }
  $K -n $ns rollout status deploy/iaas-csi-controller --timeout=180s
  $K -n $ns rollout status ds/iaas-csi-node --timeout=180s
  $K -n $ns rollout status deploy/snapshot-controller --timeout=120s
  # Every node's kubelet knows the driver (self-registration through plugins_registry).
  want=$($K get nodes --no-headers | wc -l)
  for i in $(seq 120); do
    [[ $($K get csinodes -o jsonpath='{range .items[*]}{.spec.drivers[*].name}{"\n"}{end}' | grep -c disk.csi.kube-iaas.io) -eq $want ]] && return 0
    sleep 1
  done
  log "the CSI driver is not registered on every node"
  return 1
}
timed "wait for readiness" wait_ready >/dev/null

# What down.sh, the e2e tests and the demo need to find this cluster again.
cat >"$STATE/env" <<ENV
CLUSTER=$CLUSTER
KUBECONFIG=$KUBECONFIG
IAAS_ENDPOINT=$ENDPOINT
IAAS_CREDENTIALS=$STATE/credentials.yaml
IAAS_SOURCE_IP=127.0.0.1
IAAS_ROUTE_TABLE=rtb-kind
IAAS_CLUSTER_ID=$CLUSTER
BRIDGE=$BRIDGE
POD_SUBNET=$POD_SUBNET
PUBLIC_POOL=$PUBLIC_POOL
INTERNAL_POOL=$INTERNAL_POOL
NFT_TABLE=$NFT_TABLE
DEMO_IMAGE_REF=${REF[DEMO_IMAGE]}
ENV
log "up: cluster $CLUSTER ready in $((SECONDS - T_UP))s"
printf '  %s\n' "${UP_TIMINGS[@]}" >&2
