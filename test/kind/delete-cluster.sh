#!/usr/bin/env bash
# Deletes the kind cluster $KIND_CLUSTER (default kube-iaas).
source "$(dirname "$0")/lib.sh"
CLUSTER=${KIND_CLUSTER:-kube-iaas}
kind=$("$KIND_SRC_DIR/install-kind.sh")
PATH="$KIND_SRC_DIR/shim:$PATH" "$kind" delete cluster --name "$CLUSTER" --kubeconfig "$KIND_ROOT/$CLUSTER.kubeconfig"
