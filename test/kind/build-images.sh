#!/usr/bin/env bash
# Builds the images a kubeadm cluster of $KUBE_VERSION pulls, without a registry, tagged
# with the exact names `kubeadm config images list` gives: kube-apiserver,
# kube-controller-manager, kube-scheduler (FROM scratch), kube-proxy (on the base image:
# it needs iptables/nft/conntrack), etcd, coredns, pause. Saves each as a tar under
# $KIND_ROOT/images for the node image. Skips images that exist.
source "$(dirname "$0")/lib.sh"

IMAGES_DIR=$KIND_ROOT/images
mkdir -p "$IMAGES_DIR"
"$KIND_SRC_DIR/build-kube.sh" >/dev/null
# etcd at the version Kubernetes tests against: the CCM's integration script builds it
# into the same bin directory (with kube-apiserver).
"$REPO_ROOT/test/integration/hack/build-kube.sh" >/dev/null

# scratch_image TAG BINARY [ENTRYPOINT-JSON]
scratch_image() {
  local tag=$1 bin=$2 entry=${3:-} dir hash
  hash=$(inputs_hash -- "$(stat -c '%s %Y' "$bin")" "$entry")
  image_current "$tag" "$hash" && return 0
  dir=$(mktemp -d)
  cp "$bin" "$dir/"
  {
    echo "FROM scratch"
    echo "LABEL $INPUTS_LABEL=$hash"
    echo "COPY $(basename "$bin") /usr/local/bin/$(basename "$bin")"
    if [[ -n $entry ]]; then echo "ENTRYPOINT $entry"; fi
  } >"$dir/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$dir" >/dev/null
  rm -rf "$dir"
}

go_tool() { # go_tool NAME PKG@VERSION: go install into $KIND_BIN
  [[ -x $KIND_BIN/$1 ]] && return 0
  GOBIN=$KIND_BIN CGO_ENABLED=0 nice -n 10 go install -trimpath -ldflags "-s -w" "$2" >&2
}

kube_images() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    scratch_image "$KUBE_REGISTRY/$b:$KUBE_VERSION" "$KUBE_BIN/$b"
  done
  local tag=$KUBE_REGISTRY/kube-proxy:$KUBE_VERSION dir hash
  "$KIND_SRC_DIR/build-base-image.sh" >/dev/null
  # Rebuilt when the base image changed.
  hash=$(inputs_hash -- "$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")" "$(stat -c '%s %Y' "$KUBE_BIN/kube-proxy")")
  if ! image_current "$tag" "$hash"; then
    dir=$(mktemp -d)
    cp "$KUBE_BIN/kube-proxy" "$dir/"
    printf 'FROM %s\nLABEL %s=%s\nCOPY kube-proxy /usr/local/bin/kube-proxy\nSTOPSIGNAL SIGTERM\nENTRYPOINT ["/usr/local/bin/kube-proxy"]\n' \
      "$BASE_IMAGE" "$INPUTS_LABEL" "$hash" >"$dir/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$dir" >/dev/null
    rm -rf "$dir"
  fi
}

other_images() {
  scratch_image "$KUBE_REGISTRY/etcd:$ETCD_TAG" "$KUBE_BIN/etcd"
  go_tool coredns "github.com/coredns/coredns@$COREDNS_TAG"
  scratch_image "$KUBE_REGISTRY/coredns/coredns:$COREDNS_TAG" "$KIND_BIN/coredns" '["/usr/local/bin/coredns"]'
  if [[ ! -x $KIND_BIN/pause || $KIND_SRC_DIR/pause/main.go -nt $KIND_BIN/pause ]]; then
    (cd "$REPO_ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$KIND_BIN/pause" ./test/kind/pause)
  fi
  local hash; hash=$(inputs_hash "$KIND_BIN/pause")
  if ! image_current "$KUBE_REGISTRY/pause:$PAUSE_TAG" "$hash"; then
    local dir; dir=$(mktemp -d); cp "$KIND_BIN/pause" "$dir/"
    printf 'FROM scratch\nLABEL %s=%s\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' "$INPUTS_LABEL" "$hash" >"$dir/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q -t "$KUBE_REGISTRY/pause:$PAUSE_TAG" "$dir" >/dev/null
    rm -rf "$dir"
  fi
}

ALL=(
  "$KUBE_REGISTRY/kube-apiserver:$KUBE_VERSION"
  "$KUBE_REGISTRY/kube-controller-manager:$KUBE_VERSION"
  "$KUBE_REGISTRY/kube-scheduler:$KUBE_VERSION"
  "$KUBE_REGISTRY/kube-proxy:$KUBE_VERSION"
  "$KUBE_REGISTRY/etcd:$ETCD_TAG"
  "$KUBE_REGISTRY/coredns/coredns:$COREDNS_TAG"
  "$KUBE_REGISTRY/pause:$PAUSE_TAG"
)
step "control-plane images" kube_images
step "etcd, coredns, pause images" other_images
step "image tars" save_image_tars "$IMAGES_DIR" "${ALL[@]}"
printf '%s\n' "${ALL[@]}"
