#!/usr/bin/env bash
# Runs the upstream storage suites ("External Storage [Driver: disk.csi.kube-iaas.io]")
# against a kind cluster that test/kind/up.sh brought up (our CSI driver, the simulated
# IaaS with loop-device disks): builds e2e.test, ginkgo and the test images (cached),
# loads the images into the nodes, runs the specs in parallel, prints ran/passed/failed/
# skipped and writes the JUnit report and every spec's log to $ARTIFACTS.
# test/kind/e2e.sh storage calls it (up.sh before, down.sh after); on a cluster kept
# with E2E_KEEP_CLUSTER=1 it can be run alone: KIND_CLUSTER=<cluster> run.sh.
#
#   STORAGE_E2E_SET=full       every External.Storage spec; quick: the specs of quick.txt
#                              (one per capability; make test runs it)
#   STORAGE_E2E_PROCS=3        ginkgo parallel processes
#   STORAGE_E2E_FOCUS=...      narrows the focus (full set): External.Storage.*<this regexp>
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
# Online growth of a mounted ext4 (resize2fs -> EXT4_IOC_RESIZE_FS: a plain PVC, or the
# PVC of a generic ephemeral volume, grown while its pod runs) needs
# CAP_SYS_RESOURCE in the node plugin, which the kind nodes lack where Docker cannot
# grant it (test/kind/shim drops it on VMs that withhold it); where the nodes have it,
# nothing is skipped.
node=$(docker ps --format '{{.Names}}' --filter "label=io.x-k8s.kind.cluster=$CLUSTER" | head -1)
capbnd=$(docker exec "$node" awk '/^CapBnd:/{print $2}' /proc/1/status)
if (( ((0x$capbnd >> 24) & 1) == 0 )); then
  log "the nodes of $CLUSTER lack CAP_SYS_RESOURCE (CapBnd $capbnd): online ext4 expansion is skipped (README.md)"
  SKIP+='|\(default fs\).*volume-expand.*should resize volume when PVC is edited while pod is using it'
  SKIP+='|Generic Ephemeral-volume \(default fs\).*ephemeral.*should support expansion of pvcs created for ephemeral pvcs'
fi

# The quick set: one --focus per line of quick.txt, each the spec's text after the
# driver's name matched literally (a space matches a run of them) up to its trailing
# [tags].
FOCUS=()
case ${STORAGE_E2E_SET:-full} in
full) FOCUS=(--focus="External.Storage.*${STORAGE_E2E_FOCUS:-}") ;;
quick)
  while IFS= read -r line; do
    [[ -z $line || $line == \#* ]] && continue
    FOCUS+=(--focus="External Storage \[Driver: [^]]*\] $(sed 's/[][\.*^$(){}?+|/]/\\&/g; s/ /  */g' <<<"$line")( +\[.*)?\$")
  done <"$HERE/quick.txt"
  ;;
*) log "STORAGE_E2E_SET must be full or quick, not $STORAGE_E2E_SET"; exit 2 ;;
esac
ginkgo_run() {
  "$OUT/ginkgo" --timeout="${STORAGE_E2E_TIMEOUT:-90m}" --no-color \
    "${FOCUS[@]}" --skip="$SKIP" --output-dir="$ARTIFACTS" "$@" \
    "$OUT/e2e.test" -- \
    -kubeconfig="$KUBECONFIG" -kubectl-path="$KUBE_BIN/kubectl" \
    -storage.testdriver="$HERE/test-driver.yaml" \
    -report-dir="$ARTIFACTS" -non-blocking-taints=node-role.kubernetes.io/control-plane
}
# Every line of quick.txt must name exactly one spec that is not skipped (a dry run
# cannot be parallel): a spec renamed
# upstream must not silently leave its capability untested.
if [[ ${STORAGE_E2E_SET:-full} == quick ]]; then
  want=$(grep -cv '^\s*\(#\|$\)' "$HERE/quick.txt")
  (cd "$ARTIFACTS" && ginkgo_run --dry-run --json-report=dry-run.json) >"$ARTIFACTS/dry-run.log" 2>&1 || {
    tail -30 "$ARTIFACTS/dry-run.log" >&2; log "storage e2e: the dry run failed"; exit 1; }
  got=$(jq '[.[].SpecReports[]? | select(.LeafNodeType == "It" and .State == "passed")] | length' "$ARTIFACTS/dry-run.json")
  if [[ $got != "$want" ]]; then
    log "storage e2e: quick.txt has $want specs but its focus selects $got (renamed or skipped upstream?); see $ARTIFACTS/dry-run.log"
    exit 1
  fi
fi

T0=$SECONDS
rc=0
(cd "$ARTIFACTS" && ginkgo_run -p --procs="$PROCS" --junit-report=junit.xml --json-report=report.json) >"$ARTIFACTS/ginkgo.log" 2>&1 || rc=$?
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
# The suite skips a spec at run time when the driver lacks what it needs; in the quick
# set every spec stands for a capability we claim, so a skip there is a failure.
if [[ ${STORAGE_E2E_SET:-full} == quick && $rc == 0 ]]; then
  ran=$(jq '[.[].SpecReports[]? | select(.LeafNodeType == "It" and .State != "skipped")] | length' "$ARTIFACTS/report.json")
  if [[ $ran != "$want" ]]; then
    jq -r '.[].SpecReports[]? | select(.LeafNodeType == "It" and .State == "skipped" and ((.Failure.Message // "") != ""))
      | "  SKIPPED: \(.LeafNodeText): \(.Failure.Message)"' "$ARTIFACTS/report.json" >&2
    log "storage e2e: quick.txt has $want specs but $ran ran"
    rc=1
  fi
fi
grep -E '^(Ran |FAIL!|SUCCESS!)' "$ARTIFACTS/ginkgo.log" >&2 || true
log "storage e2e: ginkgo exit $rc in ${WALL}s; JUnit, report and logs in $ARTIFACTS"
exit $rc
