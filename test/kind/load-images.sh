#!/usr/bin/env bash
# load-images.sh [CLUSTER [IMAGE...]]: loads the IMAGEs (default: every image of
# images.env, ours and the CSI sidecars) into the nodes of kind cluster CLUSTER
# (default $KIND_CLUSTER or kube-iaas) with `kind load docker-image`. Build them first (build-all.sh, or build-project-images.sh
# and build-sidecars.sh). kind skips an image a node already has with the same id.
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
step "kind load ${#KUBE_IAAS_IMAGES[@]} images into $CLUSTER" \
  env PATH="$KIND_SRC_DIR/shim:$PATH" "$kind" load docker-image --name "$CLUSTER" "${KUBE_IAAS_IMAGES[@]}"
