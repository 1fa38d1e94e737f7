#!/usr/bin/env bash
# Builds $NODE_IMAGE the way `kind build node-image` would, without pulling anything
# (kind's own command always pulls): the base image plus kubeadm/kubelet/kubectl, kind's
# version file and manifests, and every image kubeadm needs preloaded into containerd,
# and so are the CSI sidecars (build-sidecars.sh), which change only with their versions;
# the project's own images change with every build and are loaded per cluster
# (load-images.sh).
source "$(dirname "$0")/lib.sh"

"$KIND_SRC_DIR/build-base-image.sh" >/dev/null
"$KIND_SRC_DIR/build-kube.sh" >/dev/null
"$KIND_SRC_DIR/build-images.sh" >/dev/null
"$KIND_SRC_DIR/build-sidecars.sh" >/dev/null
# Inputs: this script, the base image, kubeadm/kubelet/kubectl, the preloaded images.
HASH=$(inputs_hash "$0" "$KIND_ROOT"/images/*.tar.id -- "$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")" \
  "$(stat -c '%n %s %Y' "$KUBE_BIN/kubeadm" "$KUBE_BIN/kubelet" "$KUBE_BIN/kubectl")")
if image_current "$NODE_IMAGE" "$HASH"; then echo "$NODE_IMAGE"; exit 0; fi

build() {
  image_current "$NODE_IMAGE" "$HASH" && return 0
  local c=kube-iaas-node-build-$$ b f
  docker rm -f "$c" >/dev/null 2>&1 || true
  docker run -d --name "$c" --entrypoint=sleep "$BASE_IMAGE" infinity >/dev/null
  trap "docker rm -f $c >/dev/null 2>&1 || true" EXIT
  for b in kubeadm kubelet kubectl; do docker cp "$KUBE_BIN/$b" "$c:/usr/bin/$b"; done
  docker exec "$c" mkdir -p /kind/manifests /kind/images
  echo "$KUBE_VERSION" | docker exec -i "$c" tee /kind/version >/dev/null
  # No default CNI (the kind config disables it; our own CNI config writer is deployed
  # by the project) and no default storage (our CSI driver's StorageClass is the
  # default): kind still reads these files, so they hold a harmless object.
  for f in default-cni default-storage; do
    docker exec -i "$c" tee "/kind/manifests/$f.yaml" >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-iaas-no-$f
  namespace: kube-system
data:
  reason: "kube-iaas deploys its own ($f is not used)"
YAML
  done
  for f in "$KIND_ROOT"/images/*.tar; do docker cp "$f" "$c:/kind/images/"; done
  docker exec "$c" bash -ec '
    containerd >/tmp/containerd.log 2>&1 &
    for i in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done
    for f in /kind/images/*.tar; do
      ctr -n k8s.io images import --no-unpack "$f" >/dev/null
    done
    # Pinned: kubelet never garbage-collects them (ctr 1.6 import has no --label).
    for ref in $(ctr -n k8s.io images ls -q); do
      ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
    done
    ctr -n k8s.io images ls -q >&2
    kill %1; wait || true
    rm -rf /kind/images /tmp/containerd.log'
  docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/kube-iaas-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]' \
    --change 'CMD []' --change "LABEL $INPUTS_LABEL=$HASH" "$c" "$NODE_IMAGE" >/dev/null
}
step "node image $NODE_IMAGE" with_lock "$KIND_ROOT/.lock-node" build
echo "$NODE_IMAGE"
