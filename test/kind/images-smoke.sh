#!/usr/bin/env bash
# Checks the images of images.env on a kind cluster ($KIND_CLUSTER, default kube-iaas;
# created when missing with create-cluster.sh, never deleted here):
# 1. each CSI sidecar binary starts in its image (--version), the CSI driver image has
#    the filesystem tools and the driver starts, the CCM and CNI writer start;
# 2. the images load into the nodes (load-images.sh);
# 3. iaas-cni-config (testdata/cni-config.yaml) writes /etc/cni/net.d/10-kube-iaas.conflist
#    on every node, the nodes become Ready, and a pod on each node gets an address from
#    its node's pod CIDR; no node has a route to another node's pod CIDR (that is the
#    VPC router's job: sim-smoke.sh shows pods reaching each other through it).
# Deletes the smoke DaemonSet and pods at the end; the cluster keeps running and the
# nodes keep the written CNI configuration (as they would after an upgrade of the writer).
source "$(dirname "$0")/lib.sh"
source "$KIND_SRC_DIR/images.env"
CLUSTER=${KIND_CLUSTER:-kube-iaas}
POD_SUBNET=${KIND_POD_SUBNET:-10.245.0.0/16}
K="$KUBE_BIN/kubectl --kubeconfig ${KIND_KUBECONFIG:-$KIND_ROOT/$CLUSTER.kubeconfig}"

in_cidr() { # in_cidr IPv4 CIDR
  local ip=$1 net=${2%/*} bits=${2#*/} a b c d x y
  IFS=. read -r a b c d <<<"$ip"; x=$(((a << 24) | (b << 16) | (c << 8) | d))
  IFS=. read -r a b c d <<<"$net"; y=$(((a << 24) | (b << 16) | (c << 8) | d))
  local mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  (((x & mask) == (y & mask)))
}

images_start() {
  local img name
  for img in "$CSI_PROVISIONER_IMAGE" "$CSI_ATTACHER_IMAGE" "$CSI_RESIZER_IMAGE" "$CSI_SNAPSHOTTER_IMAGE" "$SNAPSHOT_CONTROLLER_IMAGE"; do
    name=${img##*/}; name=${name%%:*}
    # Each prints its version and exits 0.
    out=$(docker run --rm "$img" --version 2>&1) || { echo "$out" >&2; return 1; }
    log "$img: $(echo "$out" | tail -1)"
  done
  for img in "$CCM_IMAGE" "$CNI_CONFIG_IMAGE"; do
    docker run --rm "$img" --help >/dev/null 2>&1 || { docker run --rm "$img" --help 2>&1 | tail -5 >&2; return 1; }
    log "$img: --help ok"
  done
  out=$(docker run --rm "$CSI_DRIVER_IMAGE" --version) && log "$CSI_DRIVER_IMAGE: version $out"
  docker run --rm --entrypoint /bin/sh "$CSI_DRIVER_IMAGE" -ec '
    for t in mkfs.ext4 mkfs.xfs blkid fsck resize2fs dumpe2fs xfs_growfs xfs_io mount umount findmnt; do
      command -v $t >/dev/null || { echo "missing $t"; exit 1; }
    done
    truncate -s 300M /tmp/d && mkfs.ext4 -q /tmp/d && blkid -p -s TYPE -o value /tmp/d | grep -qx ext4
    truncate -s 300M /tmp/x && mkfs.xfs -q /tmp/x && blkid -p -s TYPE -o value /tmp/x | grep -qx xfs
    truncate -s 400M /tmp/d && resize2fs /tmp/d >/dev/null 2>&1'
  log "$CSI_DRIVER_IMAGE: filesystem tools present, mkfs.ext4/mkfs.xfs/blkid/resize2fs work"
}

cni() {
  sed "s#@CLUSTER_CIDRS@#$POD_SUBNET#" "$KIND_SRC_DIR/testdata/cni-config.yaml" | $K apply -f - >/dev/null
  $K -n kube-system rollout status ds/iaas-cni-config-smoke --timeout=120s >&2
  $K wait --for=condition=Ready node --all --timeout=120s >&2
  local nodes n cidr ip
  mapfile -t nodes < <($K get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
  for n in "${nodes[@]}"; do
    docker exec "$n" cat /etc/cni/net.d/10-kube-iaas.conflist | grep -q "\"type\": \"ptp\"" ||
      { log "$n: no ptp config"; return 1; }
    $K apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: cni-smoke-$n, namespace: default, labels: {app: cni-smoke}}
spec:
  nodeName: $n
  tolerations: [{operator: Exists}]
  terminationGracePeriodSeconds: 0
  containers: [{name: c, image: $KUBE_REGISTRY/pause:$PAUSE_TAG, imagePullPolicy: Never}]
YAML
  done
  $K wait --for=condition=Ready pod -l app=cni-smoke --timeout=120s >&2
  for n in "${nodes[@]}"; do
    cidr=$($K get node "$n" -o jsonpath='{.spec.podCIDR}')
    ip=$($K get pod "cni-smoke-$n" -o jsonpath='{.status.podIP}')
    in_cidr "$ip" "$cidr" || { log "$n: pod IP $ip not in $cidr"; return 1; }
    log "$n: podCIDR $cidr, pod IP $ip"
    # Routes: only this node's pods (host routes) and the docker network; no other
    # node's pod CIDR.
    local other
    for other in "${nodes[@]}"; do
      [[ $other == "$n" ]] && continue
      ocidr=$($K get node "$other" -o jsonpath='{.spec.podCIDR}')
      if docker exec "$n" ip -4 route show | grep -q "^$ocidr"; then
        log "$n has a route to $other's pod CIDR $ocidr"; return 1
      fi
    done
  done
  $K delete pod -l app=cni-smoke --wait=false >/dev/null
  sed "s#@CLUSTER_CIDRS@#$POD_SUBNET#" "$KIND_SRC_DIR/testdata/cni-config.yaml" | $K delete -f - >/dev/null
}

step "images start" images_start
"$KIND_SRC_DIR/create-cluster.sh" >/dev/null
"$KIND_SRC_DIR/load-images.sh" "$CLUSTER"
step "CNI config writer on $CLUSTER" cni
log "images smoke test passed"
