#!/usr/bin/env bash
# Runs the upstream storage suites ("External Storage [Driver: disk.csi.kube-iaas.io]")
# against a kind cluster that test/kind/up.sh brought up (our CSI driver, the simulated
# IaaS with loop-device disks): builds e2e.test, ginkgo and the test images (cached),
# loads the images into the nodes, runs the specs in parallel, prints ran/passed/failed/
# skipped and writes the JUnit report and every spec's log to $ARTIFACTS.
# test/kind/e2e.sh storage calls it (up.sh before, down.sh after); on a cluster kept
# with E2E_KEEP_CLUSTER=1 it can be run alone: KIND_CLUSTER=<cluster> run.sh.
#
#   STORAGE_E2E_PROCS=3        ginkgo parallel processes
#   STORAGE_E2E_FOCUS=...      narrows the focus: External.Storage.*<this regexp>
#   STORAGE_E2E_TIMEOUT=90m    the whole run
# Which specs are skipped, and why: README.md.
source "$(dirname "$0")/../kind/lib.sh"
source "$KIND_SRC_DIR/profile.sh"
HERE=$REPO_ROOT/test/storage-e2e
ARTIFACTS=${E2E_ARTIFACTS:-/var/tmp/kube-iaas-storage-e2e-$(date -u +%Y%m%dT%H%M%S)}
PROCS=${STORAGE_E2E_PROCS:-3}
mkdir -p "$ARTIFACTS"
[[ -s $STATE/env ]] || { log "no cluster state in $STATE (run test/kind/up.sh first)"; exit 1; }
source "$STATE/env"
export KUBECONFIG

OUT=$("$HERE/build.sh")
mapfile -t IMAGES < <("$HERE/build-images.sh")
"$KIND_SRC_DIR/load-images.sh" "$CLUSTER" "${IMAGES[@]}"

# Skips beyond Disruptive|Serial|Flaky, each for a feature the IaaS (or this machine)
# lacks; README.md gives each reason.
SKIP='\[Disruptive\]|\[Serial\]|\[Flaky\]'
# Online growth of a mounted ext4 (resize2fs -> EXT4_IOC_RESIZE_FS) needs
# CAP_SYS_RESOURCE in the node plugin, which the kind nodes lack where Docker cannot
# grant it (test/kind/shim drops it on VMs that withhold it); where the nodes have it,
# nothing is skipped.
node=$(docker ps --format '{{.Names}}' --filter "label=io.x-k8s.kind.cluster=$CLUSTER" | head -1)
capbnd=$(docker exec "$node" awk '/^CapBnd:/{print $2}' /proc/1/status)
if (( ((0x$capbnd >> 24) & 1) == 0 )); then
  log "the nodes of $CLUSTER lack CAP_SYS_RESOURCE (CapBnd $capbnd): online ext4 expansion is skipped (README.md)"
  SKIP+='|\(default fs\).*volume-expand.*should resize volume when PVC is edited while pod is using it'
fi

T0=$SECONDS
rc=0
(
  cd "$ARTIFACTS"
  "$OUT/ginkgo" -p --procs="$PROCS" --timeout="${STORAGE_E2E_TIMEOUT:-90m}" --no-color \
    --focus="External.Storage.*${STORAGE_E2E_FOCUS:-}" --skip="$SKIP" \
    --junit-report=junit.xml --json-report=report.json --output-dir="$ARTIFACTS" \
    "$OUT/e2e.test" -- \
    -kubeconfig="$KUBECONFIG" -kubectl-path="$KUBE_BIN/kubectl" \
    -storage.testdriver="$HERE/test-driver.yaml" \
    -report-dir="$ARTIFACTS" -non-blocking-taints=node-role.kubernetes.io/control-plane
) >"$ARTIFACTS/ginkgo.log" 2>&1 || rc=$?
WALL=$((SECONDS - T0))

# Ran/passed/failed/skipped from the JSON report (ginkgo's own record of every spec).
summary() {
  jq -r '[.[].SpecReports[]? | select(.LeafNodeType == "It")] as $s
    | ($s | map(select(.State == "passed")) | length) as $p
    | ($s | map(select(.State == "skipped")) | length) as $k
    | ($s | map(select(.State | test("failed|panicked|timedout|interrupted|aborted"))) ) as $f
    | "storage e2e: ran \($p + ($f | length)), passed \($p), failed \($f | length), skipped \($k)",
      ($f[] | "  FAILED: \((.ContainerHierarchyTexts // []) | join(" ")) \(.LeafNodeText)")' "$ARTIFACTS/report.json"
}
summary | tee "$ARTIFACTS/summary.txt" >&2 || tail -50 "$ARTIFACTS/ginkgo.log" >&2
grep -E '^(Ran |FAIL!|SUCCESS!)' "$ARTIFACTS/ginkgo.log" >&2 || true
log "storage e2e: ginkgo exit $rc in ${WALL}s; JUnit, report and logs in $ARTIFACTS"
exit $rc
