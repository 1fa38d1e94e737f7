#!/usr/bin/env bash
# Builds the project's own images from the work tree (names in images.env):
#   $CCM_IMAGE         iaas-cloud-controller-manager, FROM scratch (static binary)
#   $CNI_CONFIG_IMAGE  iaas-cni-config, FROM scratch (static binary)
#   $DEMO_IMAGE        demo-backend (hack/demo-backend, the sample app of make demo), FROM scratch
#   $CSI_DRIVER_IMAGE  iaas-csi-driver on $CSI_BASE_IMAGE, a Debian bookworm minbase with
#                      the tools mount-utils runs (mkfs.ext4/xfs, blkid, fsck, resize2fs,
#                      dumpe2fs, xfs_growfs, xfs_io, mount, umount, findmnt), made with
#                      debootstrap (no registry), reusing the .debs build-base-image.sh
#                      downloaded. One image for the controller and the node plugin.
# The binaries are built with CGO_ENABLED=0 -trimpath into $KIND_ROOT/project-bin; an
# image is rebuilt only when the hash of its inputs (binary, base image) changed, so a
# second run with an unchanged tree only rebuilds nothing (go build is cached).
source "$(dirname "$0")/lib.sh"
source "$KIND_SRC_DIR/images.env"

# Two work trees building at once (parallel development) each set their own directory
# and image names (images.env), or they would overwrite each other's binaries.
PROJ_BIN=${KIND_PROJECT_BIN:-$KIND_ROOT/project-bin}
CSI_BASE_IMAGE=${CSI_BASE_IMAGE:-kube-iaas/csi-node-base:bookworm}
CSI_ROOTFS=$KIND_ROOT/rootfs-csi-bookworm
CSI_PKGS=e2fsprogs,xfsprogs,util-linux,mount
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$PROJ_BIN"

# docker_build TAG DIR: the legacy builder (no buildx here), quiet unless it fails.
docker_build() {
  local out
  out=$(DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" 2>&1) || { echo "$out" >&2; return 1; }
}

binaries() {
  local v
  v=$(cd "$REPO_ROOT" && git describe --always --dirty 2>/dev/null || echo dev)
  (cd "$REPO_ROOT" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w -X main.version=$v" \
    -o "$PROJ_BIN/" ./cmd/iaas-cloud-controller-manager ./cmd/iaas-csi-driver ./cmd/iaas-cni-config ./hack/demo-backend)
}

# The CSI node plugin's userland. debootstrap's package cache is seeded with the .debs
# of the base image's debootstrap (same suite), so only the package indexes and
# xfsprogs are downloaded.
csi_base() {
  local hash seed=$KIND_ROOT/rootfs-bookworm/var/cache/apt/archives cachedir=$KIND_ROOT/debs-bookworm dir
  hash=$(inputs_hash -- "$CSI_PKGS" "$(sed -n '/^csi_base()/,/^}/p' "$0")")
  image_current "$CSI_BASE_IMAGE" "$hash" && return 0
  if [[ "$(cat "$CSI_ROOTFS/.done" 2>/dev/null)" != "$CSI_PKGS" ]]; then
    command -v debootstrap >/dev/null || apt_install debootstrap
    mkdir -p "$cachedir"
    if [[ -d $seed ]]; then cp -n "$seed"/*.deb "$cachedir/" 2>/dev/null || true; fi
    rm -rf "$CSI_ROOTFS"
    nice -n 10 debootstrap --variant=minbase --cache-dir="$cachedir" --include="$CSI_PKGS" bookworm "$CSI_ROOTFS" "$MIRROR" \
      >"$KIND_ROOT/debootstrap-csi.log" 2>&1 || { tail -20 "$KIND_ROOT/debootstrap-csi.log" >&2; return 1; }
    echo "$CSI_PKGS" >"$CSI_ROOTFS/.done"
  fi
  # What a container that only runs one static binary and these tools does not need
  # (python3 comes with xfsprogs for xfs_scrub_all only).
  dir=$(mktemp -d)
  tar -C "$CSI_ROOTFS" --numeric-owner \
    --exclude=./.done --exclude=./usr/share/doc --exclude=./usr/share/man --exclude=./usr/share/info \
    --exclude=./usr/share/locale --exclude=./usr/share/i18n --exclude=./usr/share/zoneinfo \
    --exclude='./var/cache/apt/*' --exclude='./var/lib/apt/lists/*' --exclude='./var/log/*' \
    --exclude='./usr/lib/python3*' --exclude='./usr/bin/python3*' --exclude='./usr/share/python3*' \
    --exclude='./usr/lib/x86_64-linux-gnu/gconv' --exclude=./debootstrap -c . | docker import - "$CSI_BASE_IMAGE-rootfs" >/dev/null
  printf 'FROM %s\nLABEL %s=%s\nCMD ["/bin/bash"]\n' "$CSI_BASE_IMAGE-rootfs" "$INPUTS_LABEL" "$hash" >"$dir/Dockerfile"
  docker_build "$CSI_BASE_IMAGE" "$dir"
  docker rmi "$CSI_BASE_IMAGE-rootfs" >/dev/null
  rm -rf "$dir"
}

# image TAG BASE BINARY: BASE + /usr/local/bin/BINARY as the entrypoint.
image() {
  local tag=$1 base=$2 bin=$3 hash dir baseid=scratch
  [[ $base == scratch ]] || baseid=$(docker image inspect -f '{{.Id}}' "$base")
  hash=$(inputs_hash "$PROJ_BIN/$bin" -- "$baseid")
  image_current "$tag" "$hash" && return 0
  dir=$(mktemp -d)
  cp "$PROJ_BIN/$bin" "$dir/"
  printf 'FROM %s\nLABEL %s=%s\nCOPY %s /usr/local/bin/%s\nENTRYPOINT ["/usr/local/bin/%s"]\n' \
    "$base" "$INPUTS_LABEL" "$hash" "$bin" "$bin" "$bin" >"$dir/Dockerfile"
  docker_build "$tag" "$dir"
  rm -rf "$dir"
  log "built $tag"
}

images() {
  image "$CCM_IMAGE" scratch iaas-cloud-controller-manager
  image "$CNI_CONFIG_IMAGE" scratch iaas-cni-config
  image "$DEMO_IMAGE" scratch demo-backend
  image "$CSI_DRIVER_IMAGE" "$CSI_BASE_IMAGE" iaas-csi-driver
}

build() {
  step "project binaries" binaries
  step "CSI node base image" csi_base
  step "project images" images
}
with_lock "$KIND_ROOT/.lock-project" build
printf '%s\n' "$CCM_IMAGE" "$CNI_CONFIG_IMAGE" "$CSI_DRIVER_IMAGE" "$DEMO_IMAGE"
