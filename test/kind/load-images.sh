#!/usr/bin/env bash
# load-images.sh [CLUSTER [IMAGE...]]: loads the IMAGEs (default: every image of
# images.env, ours and the CSI sidecars) into the nodes of kind cluster CLUSTER
# (default $KIND_CLUSTER or kube-iaas) with `kind load docker-image`, one image per
# call: kind saves and imports every image named on its command line as soon as one
# of them is missing on a node, so a single call would copy all of them again whenever
# one changed. kind skips an image every node already has with the same id.
source "$(dirname "$0")/lib.sh"
source "$KIND_SRC_DIR/images.env"
CLUSTER=${1:-${KIND_CLUSTER:-kube-iaas}}
(($#)) && shift
(($#)) && KUBE_IAAS_IMAGES=("$@")
kind=$("$KIND_SRC_DIR/install-kind.sh")
missing=()
for img in "${KUBE_IAAS_IMAGES[@]}"; do image_exists "$img" || missing+=("$img"); done
if ((${#missing[@]})); then
  log "missing images (run test/kind/build-all.sh): ${missing[*]}"
  exit 1
fi
load() {
  local img out
  for img in "${KUBE_IAAS_IMAGES[@]}"; do
    out=$(PATH="$KIND_SRC_DIR/shim:$PATH" "$kind" load docker-image --name "$CLUSTER" "$img" 2>&1) ||
      { echo "$out" >&2; return 1; }
    grep -v 'found to be already present on all nodes' <<<"$out" >&2 || true
  done
}
step "kind load ${#KUBE_IAAS_IMAGES[@]} images into $CLUSTER" load
