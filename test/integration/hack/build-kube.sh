#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy, once, into a cache outside the
# repository so that CI and later runs reuse them. Prints the bin directory on stdout.
#
# k8s.io/kubernetes cannot be a dependency of any module of this repository that users
# `go install` (its go.mod replaces 33 staging modules with ./staging paths), so the build
# happens in a throwaway wrapper module that replaces each staging module with the same
# module at the matching v0 version.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
CACHE=${KUBE_IAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-iaas}
ROOT=$CACHE/kube-$KUBE_VERSION
OUT=$ROOT/bin

done_already() { [[ -x $OUT/kube-apiserver && -x $OUT/etcd ]]; }
if done_already; then echo "$OUT"; exit 0; fi

mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
# Another job (a parallel CI step, another checkout) may be building the same version.
flock 9
if done_already; then echo "$OUT"; exit 0; fi

SRC=$ROOT/src
rm -rf "$SRC" && mkdir -p "$SRC/etcd" "$OUT"
cd "$SRC"

gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
staging_version=v0.${KUBE_VERSION#v1.}
etcd_version=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$gomod")

{
  echo "module kube-iaas.local/kubebuild"
  echo
  echo "go 1.26.0"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $KUBE_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $etcd_version"
  echo ")"
  echo
  echo "tool k8s.io/kubernetes/cmd/kube-apiserver"
  echo
  echo "replace ("
  grep -E '=> \./staging/' "$gomod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
  echo ")"
} >go.mod
n=$(grep -c " => .* $staging_version" go.mod)
echo "wrapper module: $n staging replaces to $staging_version, etcd $etcd_version" >&2

cat >etcd/main.go <<'GO'
// Command etcd is upstream etcd's main, built at the version Kubernetes tests against.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO

go mod tidy >&2

pkg=k8s.io/component-base/version
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for p in $pkg k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
export CGO_ENABLED=0
# nice: this shares the machine with other builds and tests.
nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
nice -n 10 go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" ./etcd >&2
mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
mv "$OUT/etcd.tmp" "$OUT/etcd"
echo "$OUT"
