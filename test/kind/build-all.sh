#!/usr/bin/env bash
# Everything a kind cluster needs, built offline and cached under $CACHE/kind and
# $CACHE/kube-$KUBE_VERSION; a second run only checks. Times go to $CACHE/kind/times.log.
# Kubernetes and the node image, then the images the cluster runs beyond Kubernetes
# (ours and the CSI sidecars, names in images.env; load them with load-images.sh).
source "$(dirname "$0")/lib.sh"
"$KIND_SRC_DIR/install-kind.sh" >/dev/null
"$KIND_SRC_DIR/build-kube.sh" >/dev/null
"$KIND_SRC_DIR/build-base-image.sh" >/dev/null
"$KIND_SRC_DIR/build-images.sh" >/dev/null
"$KIND_SRC_DIR/build-sidecars.sh" >/dev/null
"$KIND_SRC_DIR/build-project-images.sh" >/dev/null
"$KIND_SRC_DIR/build-node-image.sh"
# Every rebuild leaves the previous image of a tag behind, untagged (the node image is
# 2 GB, ours change with every commit): remove those of ours that no container uses.
# Housekeeping only: a prune already running (another build on this host) is no failure.
docker image prune -f --filter "label=$INPUTS_LABEL" >/dev/null || log "docker image prune skipped (exit $?)"
