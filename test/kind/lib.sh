# Common helpers for the test/kind scripts; source it, don't run it.
# Everything built lands in $CACHE (outside the repository, reused by later runs and CI);
# each step is skipped when its output already exists.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
KIND_VERSION=${KIND_VERSION:-v0.33.0}
CACHE=${KUBE_IAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-iaas}
# Shared with test/integration/hack/build-kube.sh, which builds kube-apiserver and etcd
# into the same bin directory.
KUBE_ROOT=$CACHE/kube-$KUBE_VERSION
KUBE_BIN=$KUBE_ROOT/bin
KIND_ROOT=$CACHE/kind
KIND_BIN=$KIND_ROOT/bin
TIMES=$KIND_ROOT/times.log
KIND_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$KIND_SRC_DIR/../.." && pwd)

mkdir -p "$KIND_ROOT" "$KIND_BIN"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# step NAME CMD...: runs CMD, logs and records its wall time in $TIMES.
step() {
  local name=$1; shift
  local t0=$SECONDS
  log "$name ..."
  "$@"
  local dt=$((SECONDS - t0))
  log "$name done in ${dt}s"
  printf '%s\t%s\t%ss\n' "$(date -u +%FT%TZ)" "$name" "$dt" >>"$TIMES"
}

# with_lock FILE CMD...: serializes builds of the same artifact across processes.
with_lock() {
  local f=$1; shift
  ( flock 9; "$@" ) 9>"$f"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# apt_install PKG...: from Debian, refreshing the package lists only when needed.
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2; }
}

# Images built from inputs carry the hash of those inputs in this label; a script
# rebuilds an image whose label differs (a changed script, a rebuilt binary).
INPUTS_LABEL=io.kube-iaas.inputs
inputs_hash() { # inputs_hash FILE... [-- STRING...]: sha256 of files' contents and strings
  local f
  {
    while (($#)) && [[ $1 != -- ]]; do cat "$1"; shift; done
    [[ ${1:-} == -- ]] && shift
    for f in "$@"; do echo "$f"; done
  } | sha256sum | cut -c1-16
}
image_current() { # image_current TAG HASH
  [[ "$(docker image inspect -f "{{index .Config.Labels \"$INPUTS_LABEL\"}}" "$1" 2>/dev/null)" == "$2" ]]
}

# save_image_tars DIR IMAGE...: `docker save` of each image into DIR (the images the
# node image preloads, see build-node-image.sh), re-saved only when the image changed
# (its id is kept next to the tar).
save_image_tars() {
  local dir=$1 img f
  shift
  mkdir -p "$dir"
  for img in "$@"; do
    f=$dir/$(echo "$img" | tr '/:' '__').tar
    if [[ -e $f && "$(cat "$f.id" 2>/dev/null)" == "$(docker image inspect -f '{{.Id}}' "$img")" ]]; then continue; fi
    rm -f "$f.id"
    docker save -o "$f.tmp" "$img" || { rm -f "$f.tmp"; return 1; }
    mv "$f.tmp" "$f"
    docker image inspect -f '{{.Id}}' "$img" >"$f.id"
  done
}

# Kubernetes images are tagged with the names kubeadm lists for this version.
KUBE_REGISTRY=registry.k8s.io
ETCD_TAG=${ETCD_TAG:-3.7.0-0}
COREDNS_TAG=${COREDNS_TAG:-v1.14.6}
PAUSE_TAG=${PAUSE_TAG:-3.10.2}
BASE_IMAGE=${BASE_IMAGE:-kube-iaas/kind-base:bookworm}
NODE_IMAGE=${NODE_IMAGE:-kube-iaas/kind-node:$KUBE_VERSION}
