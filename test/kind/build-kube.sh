#!/usr/bin/env bash
# Builds the Kubernetes binaries a kind node and its control plane need (kubeadm, kubelet,
# kubectl, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy) from the Go
# module proxy into $KUBE_BIN, the directory test/integration/hack/build-kube.sh also
# uses. Same approach as that script: a throwaway wrapper module that requires
# k8s.io/kubernetes and replaces each of its staging modules with the same module at the
# matching v0 version (k8s.io/kubernetes must never be a dependency of a module of ours).
# Prints the bin directory on stdout.
source "$(dirname "$0")/lib.sh"

BINS=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
done_already() { local b; for b in "${BINS[@]}"; do [[ -x $KUBE_BIN/$b ]] || return 1; done; }
if done_already; then echo "$KUBE_BIN"; exit 0; fi

build() {
  if done_already; then return 0; fi
  local src=$KUBE_ROOT/src-kind
  rm -rf "$src" && mkdir -p "$src" "$KUBE_BIN"
  cd "$src"
  local gomod staging_version
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
  staging_version=v0.${KUBE_VERSION#v1.}
  {
    echo "module kube-iaas.local/kubebuild-kind"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    for b in "${BINS[@]}"; do echo "tool k8s.io/kubernetes/cmd/$b"; done
    echo
    echo "replace ("
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >go.mod
  log "wrapper module: $(grep -c " => .* $staging_version" go.mod) staging replaces to $staging_version"
  go mod tidy >&2

  local pkg minor ldflags p pkgs=()
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  for b in "${BINS[@]}"; do [[ -x $KUBE_BIN/$b ]] || pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  mkdir -p "$src/out"
  # nice: this shares the machine with other builds and tests.
  CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$src/out/" "${pkgs[@]}" >&2
  for b in "$src"/out/*; do mv "$b" "$KUBE_BIN/"; done
}

mkdir -p "$KUBE_ROOT"
step "kube binaries $KUBE_VERSION" with_lock "$KUBE_ROOT/.lock-kind" build
echo "$KUBE_BIN"
