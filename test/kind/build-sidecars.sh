#!/usr/bin/env bash
# Builds the CSI sidecars from the Go module proxy and their images (FROM scratch, static
# binaries), at the versions in images.env: csi-provisioner (external-provisioner/v6),
# csi-attacher (external-attacher/v4), csi-resizer (external-resizer/v2), csi-snapshotter
# and snapshot-controller (external-snapshotter/v8); copies the VolumeSnapshot CRDs out of
# external-snapshotter/client/v8 into $SNAPSHOT_CRDS_DIR. Cached: a binary is rebuilt only
# when missing, an image only when its binary changed. Prints the image names.
#
# Why not `go install`: all but external-resizer have replace directives in go.mod, which
# `go install pkg@version` refuses. So each module is downloaded, copied somewhere writable
# and built there as the main module (its replaces apply). external-snapshotter replaces
# its client/v8 by ./client, a directory the module zip does not contain: that replace is
# dropped and client/v8 required at the same version.
source "$(dirname "$0")/lib.sh"
source "$KIND_SRC_DIR/images.env"

SRC=$KIND_ROOT/src-sidecars
SIDECAR_BIN=$KIND_ROOT/sidecars
mkdir -p "$SRC" "$SIDECAR_BIN"
CSI=github.com/kubernetes-csi

# docker_build TAG DIR: the legacy builder (no buildx here), quiet unless it fails.
docker_build() {
  local out
  out=$(DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" 2>&1) || { echo "$out" >&2; return 1; }
}

mod_dir() { go mod download -json "$1" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p'; }

# build_sidecar NAME MODULE VERSION [FIXUP]: $SIDECAR_BIN/NAME-VERSION from MODULE/cmd/NAME.
build_sidecar() {
  local name=$1 mod=$2 ver=$3 fixup=${4:-} out=$SIDECAR_BIN/$1-$3 dir src
  [[ -x $out ]] && return 0
  src=$(mod_dir "$mod@$ver")
  [[ -n $src ]] || { log "cannot download $mod@$ver"; return 1; }
  dir=$SRC/$(basename "$(dirname "$mod")")-$(basename "$mod")@$ver
  if [[ ! -e $dir/.ready ]]; then
    # Each step checked: .ready must never mark a partial copy.
    rm -rf "$dir"
    cp -r "$src" "$dir" || return 1
    chmod -R u+w "$dir" || return 1
    if [[ -n $fixup ]]; then (cd "$dir" && $fixup) || return 1; fi
    touch "$dir/.ready"
  fi
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 10 go build -trimpath \
    -ldflags "-s -w -X main.version=$ver" -o "$out.tmp" "./cmd/$name") && mv "$out.tmp" "$out"
}

snapshotter_fixup() {
  go mod edit -dropreplace="$CSI/external-snapshotter/client/v8" \
    -require="$CSI/external-snapshotter/client/v8@$CSI_SNAPSHOTTER_VERSION"
}

# sidecar_image TAG BINARY NAME: FROM scratch, the binary as /NAME (the path the
# upstream images use), running as nobody like them.
sidecar_image() {
  local tag=$1 bin=$2 name=$3 hash dir
  hash=$(inputs_hash "$bin" -- "$name")
  image_current "$tag" "$hash" && return 0
  dir=$(mktemp -d)
  cp "$bin" "$dir/$name"
  printf 'FROM scratch\nLABEL %s=%s\nCOPY %s /%s\nUSER 65534:65534\nENTRYPOINT ["/%s"]\n' \
    "$INPUTS_LABEL" "$hash" "$name" "$name" "$name" >"$dir/Dockerfile"
  docker_build "$tag" "$dir"
  rm -rf "$dir"
}

snapshot_crds() {
  local src tmp
  [[ -s $SNAPSHOT_CRDS_DIR/kustomization.yaml ]] && return 0
  src=$(mod_dir "$CSI/external-snapshotter/client/v8@$CSI_SNAPSHOTTER_VERSION")/config/crd
  tmp=$SNAPSHOT_CRDS_DIR.tmp
  rm -rf "$tmp" && mkdir -p "$tmp"
  local k=(snapshot.storage.k8s.io_volumesnapshotclasses.yaml
    snapshot.storage.k8s.io_volumesnapshotcontents.yaml snapshot.storage.k8s.io_volumesnapshots.yaml)
  local f
  for f in "${k[@]}"; do install -m 0644 "$src/$f" "$tmp/$f"; done
  { echo "apiVersion: kustomize.config.k8s.io/v1beta1"; echo "kind: Kustomization"; echo "resources:"
    for f in "${k[@]}"; do echo "- $f"; done; } >"$tmp/kustomization.yaml"
  rm -rf "$SNAPSHOT_CRDS_DIR" && mv "$tmp" "$SNAPSHOT_CRDS_DIR"
}

binaries() {
  build_sidecar csi-provisioner "$CSI/external-provisioner/v6" "$CSI_PROVISIONER_VERSION"
  build_sidecar csi-attacher "$CSI/external-attacher/v4" "$CSI_ATTACHER_VERSION"
  build_sidecar csi-resizer "$CSI/external-resizer/v2" "$CSI_RESIZER_VERSION"
  build_sidecar csi-snapshotter "$CSI/external-snapshotter/v8" "$CSI_SNAPSHOTTER_VERSION" snapshotter_fixup
  build_sidecar snapshot-controller "$CSI/external-snapshotter/v8" "$CSI_SNAPSHOTTER_VERSION" snapshotter_fixup
}

images() {
  sidecar_image "$CSI_PROVISIONER_IMAGE" "$SIDECAR_BIN/csi-provisioner-$CSI_PROVISIONER_VERSION" csi-provisioner
  sidecar_image "$CSI_ATTACHER_IMAGE" "$SIDECAR_BIN/csi-attacher-$CSI_ATTACHER_VERSION" csi-attacher
  sidecar_image "$CSI_RESIZER_IMAGE" "$SIDECAR_BIN/csi-resizer-$CSI_RESIZER_VERSION" csi-resizer
  sidecar_image "$CSI_SNAPSHOTTER_IMAGE" "$SIDECAR_BIN/csi-snapshotter-$CSI_SNAPSHOTTER_VERSION" csi-snapshotter
  sidecar_image "$SNAPSHOT_CONTROLLER_IMAGE" "$SIDECAR_BIN/snapshot-controller-$CSI_SNAPSHOTTER_VERSION" snapshot-controller
}

all_binaries_present() {
  [[ -x $SIDECAR_BIN/csi-provisioner-$CSI_PROVISIONER_VERSION && -x $SIDECAR_BIN/csi-attacher-$CSI_ATTACHER_VERSION &&
    -x $SIDECAR_BIN/csi-resizer-$CSI_RESIZER_VERSION && -x $SIDECAR_BIN/csi-snapshotter-$CSI_SNAPSHOTTER_VERSION &&
    -x $SIDECAR_BIN/snapshot-controller-$CSI_SNAPSHOTTER_VERSION ]]
}

build() {
  all_binaries_present || step "CSI sidecar binaries" binaries
  step "CSI sidecar images" images
  # Preloaded into the node image (build-node-image.sh): they change only with their
  # versions, and loading them into every new cluster costs more than anything else.
  step "CSI sidecar image tars" save_image_tars "$KIND_ROOT/images" "$CSI_PROVISIONER_IMAGE" "$CSI_ATTACHER_IMAGE" \
    "$CSI_RESIZER_IMAGE" "$CSI_SNAPSHOTTER_IMAGE" "$SNAPSHOT_CONTROLLER_IMAGE"
  snapshot_crds
}
with_lock "$KIND_ROOT/.lock-sidecars" build
printf '%s\n' "$CSI_PROVISIONER_IMAGE" "$CSI_ATTACHER_IMAGE" "$CSI_RESIZER_IMAGE" \
  "$CSI_SNAPSHOTTER_IMAGE" "$SNAPSHOT_CONTROLLER_IMAGE" "$SNAPSHOT_CRDS_DIR"
