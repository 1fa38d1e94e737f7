#!/usr/bin/env bash
# Installs kind $KIND_VERSION from the Go module proxy into $KIND_BIN; prints its path.
source "$(dirname "$0")/lib.sh"
if [[ ! -x $KIND_BIN/kind ]]; then
  step "kind $KIND_VERSION" env GOBIN="$KIND_BIN" nice -n 10 go install "sigs.k8s.io/kind@$KIND_VERSION"
fi
echo "$KIND_BIN/kind"
