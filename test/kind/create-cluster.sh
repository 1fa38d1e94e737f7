#!/usr/bin/env bash
# Creates the kind cluster $KIND_CLUSTER (default kube-iaas) from the locally built node
# image, with $KIND_WORKERS workers (default 2), offline. Builds whatever is missing first.
# Prints the kubeconfig path. Delete with: test/kind/delete-cluster.sh
source "$(dirname "$0")/lib.sh"
CLUSTER=${KIND_CLUSTER:-kube-iaas}
WORKERS=${KIND_WORKERS:-2}
POD_SUBNET=${KIND_POD_SUBNET:-10.245.0.0/16}
KUBECONFIG_OUT=${KIND_KUBECONFIG:-$KIND_ROOT/$CLUSTER.kubeconfig}

kind=$("$KIND_SRC_DIR/install-kind.sh")
"$KIND_SRC_DIR/build-node-image.sh" >/dev/null

if "$kind" get clusters 2>/dev/null | grep -x "$CLUSTER" >/dev/null; then
  log "cluster $CLUSTER exists"
else
  cfg=$(mktemp)
  workers=""
  for ((i = 0; i < WORKERS; i++)); do workers+="- role: worker"$'\n'; done
  awk -v w="$workers" -v p="$POD_SUBNET" '{ if ($0 == "@WORKERS@") printf "%s", w; else { gsub("@POD_SUBNET@", p); print } }' \
    "$KIND_SRC_DIR/kind-config.yaml.tmpl" >"$cfg"
  # The docker wrapper replaces --privileged where this host forbids it.
  step "kind create cluster $CLUSTER (1+$WORKERS nodes)" \
    env PATH="$KIND_SRC_DIR/shim:$PATH" "$kind" create cluster --name "$CLUSTER" --image "$NODE_IMAGE" \
    --config "$cfg" --kubeconfig "$KUBECONFIG_OUT"
  rm -f "$cfg"
fi
echo "$KUBECONFIG_OUT"
