#!/usr/bin/env bash
# Builds the images the conformance suite's base manifests (conformance/base/manifests.yaml
# of v1.6.3) run, without a registry, tagged with the names the manifests use:
#
#   registry.k8s.io/gateway-api/echo-basic:v1.5.1 and :v1.6.0-dev.3   the CSI node base
#       image (Debian bookworm, built by test/kind/build-project-images.sh) plus
#       /echo-basic built by build.sh from conformance/echo-basic of the same module,
#       ENTRYPOINT /echo-basic as upstream. Both tags are the same image: the manifests
#       pin two builds of the same program.
#   registry.k8s.io/coredns/coredns:v1.12.2   only the base manifests' coredns Deployment
#       (for the mesh and DNS-name backends, not in the GATEWAY-HTTP profile) uses it;
#       the cluster's own CoreDNS image (offline, already on the nodes) under this name.
#
# Prints the image names. The echo-basic image carries the hash of its inputs
# (io.kube-iaas.inputs) and is rebuilt only when it changes.
source "$(dirname "$0")/../kind/lib.sh"
HERE=$REPO_ROOT/test/gateway-conformance
ECHO_IMAGES=(registry.k8s.io/gateway-api/echo-basic:v1.5.1 registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.3)
COREDNS_IMAGE=registry.k8s.io/coredns/coredns:v1.12.2

echo_image() {
  local out hash dir base=${CSI_BASE_IMAGE:-kube-iaas/csi-node-base:bookworm}
  out=$("$HERE/build.sh") || return 1
  image_exists "$base" || "$KIND_SRC_DIR/build-project-images.sh" >/dev/null
  hash=$(inputs_hash "$out/echo-basic" -- "$(docker image inspect -f '{{.Id}}' "$base")")
  image_current "${ECHO_IMAGES[0]}" "$hash" || {
    dir=$(mktemp -d)
    cp "$out/echo-basic" "$dir/"
    printf 'FROM %s\nLABEL %s=%s\nCOPY echo-basic /echo-basic\nENTRYPOINT ["/echo-basic"]\n' \
      "$base" "$INPUTS_LABEL" "$hash" >"$dir/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q -t "${ECHO_IMAGES[0]}" "$dir" >/dev/null || { rm -rf "$dir"; return 1; }
    rm -rf "$dir"
    log "built ${ECHO_IMAGES[0]}"
  }
  docker tag "${ECHO_IMAGES[0]}" "${ECHO_IMAGES[1]}"
}

coredns_image() {
  image_exists "$COREDNS_IMAGE" && return 0
  local src
  src=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -m1 '/coredns:') ||
    { log "no CoreDNS image to stand in for $COREDNS_IMAGE"; return 0; }
  docker tag "$src" "$COREDNS_IMAGE"
}

build() {
  step "gateway conformance: echo-basic image" echo_image
  coredns_image
}
with_lock "$KIND_ROOT/.lock-gateway-conformance-images" build
printf '%s\n' "${ECHO_IMAGES[@]}"
image_exists "$COREDNS_IMAGE" && echo "$COREDNS_IMAGE"
exit 0
