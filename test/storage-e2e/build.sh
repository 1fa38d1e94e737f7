#!/usr/bin/env bash
# Builds e2e.test (this module's test binary: the upstream storage suites of
# k8s.io/kubernetes v1.37.2 and the e2e framework) and the ginkgo CLI at the version the
# module requires, into $CACHE/kind/storage-e2e/. Rebuilt only when an input changed
# (go.mod, go.sum, the Go files here, the Go version). Prints the directory.
source "$(dirname "$0")/../kind/lib.sh"
HERE=$REPO_ROOT/test/storage-e2e
OUT=$KIND_ROOT/storage-e2e
mkdir -p "$OUT"
HASH=$(inputs_hash "$HERE/go.mod" "$HERE/go.sum" "$HERE"/*.go -- "$(go version)")

build() {
  [[ "$(cat "$OUT/e2e.test.inputs" 2>/dev/null)" == "$HASH" && -x $OUT/e2e.test && -x $OUT/ginkgo ]] && return 0
  rm -f "$OUT/e2e.test.inputs"
  (cd "$HERE" && CGO_ENABLED=0 nice -n 10 go test -c -vet=off -trimpath -ldflags "-s -w" -o "$OUT/e2e.test" . &&
    CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$OUT/ginkgo" github.com/onsi/ginkgo/v2/ginkgo)
  echo "$HASH" >"$OUT/e2e.test.inputs"
}
step "storage e2e: e2e.test and ginkgo" with_lock "$KIND_ROOT/.lock-storage-e2e" build
echo "$OUT"
