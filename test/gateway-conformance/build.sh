#!/usr/bin/env bash
# Builds conformance.test (this module's test binary: the Gateway API conformance suite,
# sigs.k8s.io/gateway-api/conformance v1.6.3, with its manifests embedded) and the
# echo-basic backend from the same module, into $CACHE/kind/gateway-conformance/.
# Rebuilt only when an input changed (go.mod, go.sum, the Go files here, the Go version).
# Prints the directory.
source "$(dirname "$0")/../kind/lib.sh"
HERE=$REPO_ROOT/test/gateway-conformance
OUT=$KIND_ROOT/gateway-conformance
mkdir -p "$OUT"
HASH=$(inputs_hash "$HERE/go.mod" "$HERE/go.sum" "$HERE"/*.go -- "$(go version)")

build() {
  [[ "$(cat "$OUT/inputs" 2>/dev/null)" == "$HASH" && -x $OUT/conformance.test && -x $OUT/echo-basic ]] && return 0
  rm -f "$OUT/inputs"
  (cd "$HERE" && CGO_ENABLED=0 nice -n 10 go test -c -vet=off -trimpath -ldflags "-s -w" -o "$OUT/conformance.test" . &&
    CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$OUT/echo-basic" sigs.k8s.io/gateway-api/conformance/echo-basic) || return 1
  echo "$HASH" >"$OUT/inputs"
}
step "gateway conformance: conformance.test and echo-basic" with_lock "$KIND_ROOT/.lock-gateway-conformance" build
echo "$OUT"
