#!/usr/bin/env bash
# Builds the test images the upstream storage suites run (k8s.io/kubernetes v1.37.2
# test/utils/image/manifest.go), without a registry, tagged with the names the suite
# asks kubelet for (every pod of the suite uses imagePullPolicy IfNotPresent, so an image
# already on the node is used as is):
#
#   registry.k8s.io/e2e-test-images/busybox:1.37.0-2   the CSI node base image (Debian
#       bookworm minbase: GNU coreutils, util-linux) plus Debian's busybox-static (1.35)
#       for every applet Debian lacks, /bin/sh bash (the scripts use ash's `let`). GNU dd
#       because the suite writes block devices with `dd oflag=nocache`, which busybox's dd
#       refuses. Most specs: the default test image.
#   registry.k8s.io/e2e-test-images/agnhost:2.66.1     the busybox image + /agnhost built
#       from k8s.io/kubernetes/test/images/agnhost (this module), ENTRYPOINT /agnhost,
#       CMD pause, as upstream. subpath specs (mounttest) and e2epod.MakePod.
#   registry.k8s.io/e2e-test-images/nginx:1.27.0-2 and glibc-dns-testing:2.1.1: the busybox
#       image under these names. Stand-ins: the specs that use them (volumes "should allow
#       exec of files on the volume", multivolume concurrent access) only run /bin/sh
#       scripts with coreutils in them (dd, md5sum, ls, grep, chmod, ...), which busybox
#       provides; no nginx or glibc is executed.
#
# Prints the image names. Images carry the hash of their inputs (io.kube-iaas.inputs)
# and are rebuilt only when it changes; the .deb and the agnhost binary are cached in
# $CACHE/kind (debs-bookworm, storage-e2e/).
source "$(dirname "$0")/../kind/lib.sh"
HERE=$REPO_ROOT/test/storage-e2e
OUT=$KIND_ROOT/storage-e2e
DEBS=$KIND_ROOT/debs-bookworm
mkdir -p "$OUT" "$DEBS"

REG=registry.k8s.io/e2e-test-images
BUSYBOX_IMAGE=$REG/busybox:1.37.0-2
AGNHOST_IMAGE=$REG/agnhost:2.66.1
STANDINS=("$REG/nginx:1.27.0-2" "$REG/glibc-dns-testing:2.1.1")

docker_build() { # docker_build TAG DIR
  local out
  out=$(DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" 2>&1) || { echo "$out" >&2; return 1; }
}

busybox_deb() { # the path of Debian's busybox-static .deb, downloaded once
  local deb
  deb=$(ls "$DEBS"/busybox-static_*_amd64.deb 2>/dev/null | tail -1)
  if [[ -z $deb ]]; then
    (cd "$DEBS" && apt-get download busybox-static >&2 2>/dev/null) ||
      { apt-get update -qq && (cd "$DEBS" && apt-get download busybox-static >&2); }
    deb=$(ls "$DEBS"/busybox-static_*_amd64.deb | tail -1)
  fi
  echo "$deb"
}

busybox_image() {
  local deb hash dir base=${CSI_BASE_IMAGE:-kube-iaas/csi-node-base:bookworm}
  image_exists "$base" || "$KIND_SRC_DIR/build-project-images.sh" >/dev/null
  deb=$(busybox_deb)
  hash=$(inputs_hash "$deb" -- "$(docker image inspect -f '{{.Id}}' "$base")" "$(sed -n '/^busybox_image()/,/^}/p' "$0")")
  image_current "$BUSYBOX_IMAGE" "$hash" && return 0
  dir=$(mktemp -d)
  dpkg-deb -x "$deb" "$dir/deb"
  install -m 0755 "$dir/deb/bin/busybox" "$dir/busybox"
  # Debian's tools first (GNU dd: the suite writes block devices with oflag=nocache,
  # which busybox's dd refuses); busybox only for the applets Debian has not. /bin/sh is
  # bash: the suite's scripts are written for busybox's ash (volumeIO counts with `let`,
  # which dash lacks: its loop never ended), and ash itself would run busybox's dd.
  printf '%s\n' "FROM $base" "LABEL $INPUTS_LABEL=$hash" "COPY busybox /bin/busybox" \
    'RUN for a in $(/bin/busybox --list-full); do [ -e "/$a" ] || [ -e "/usr/$a" ] || ln -s /bin/busybox "/$a"; done && ln -sf bash /usr/bin/sh' \
    'CMD ["sh"]' >"$dir/Dockerfile"
  docker_build "$BUSYBOX_IMAGE" "$dir"
  rm -rf "$dir"
  log "built $BUSYBOX_IMAGE"
}

agnhost_binary() {
  (cd "$HERE" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$OUT/agnhost" k8s.io/kubernetes/test/images/agnhost)
}

agnhost_image() {
  local hash dir
  hash=$(inputs_hash "$OUT/agnhost" -- "$(docker image inspect -f '{{.Id}}' "$BUSYBOX_IMAGE")")
  image_current "$AGNHOST_IMAGE" "$hash" && return 0
  dir=$(mktemp -d)
  cp "$OUT/agnhost" "$dir/"
  printf 'FROM %s\nLABEL %s=%s\nCOPY agnhost /agnhost\nENTRYPOINT ["/agnhost"]\nCMD ["pause"]\n' \
    "$BUSYBOX_IMAGE" "$INPUTS_LABEL" "$hash" >"$dir/Dockerfile"
  docker_build "$AGNHOST_IMAGE" "$dir"
  rm -rf "$dir"
  log "built $AGNHOST_IMAGE"
}

standins() {
  local img
  for img in "${STANDINS[@]}"; do docker tag "$BUSYBOX_IMAGE" "$img"; done
}

build() {
  step "storage e2e: busybox image" busybox_image
  step "storage e2e: agnhost binary" agnhost_binary
  step "storage e2e: agnhost image" agnhost_image
  standins
}
with_lock "$KIND_ROOT/.lock-storage-e2e-images" build
printf '%s\n' "$BUSYBOX_IMAGE" "$AGNHOST_IMAGE" "${STANDINS[@]}"
