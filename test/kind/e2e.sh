#!/usr/bin/env bash
# The kind end-to-end stage (issue 6): up.sh on the cluster kube-iaas-e2e (Docker, the
# offline images, the cluster, the simulated IaaS with its real data plane, our
# manifests, readiness), then `go test ./...` in test/e2e with KUBE_IAAS_E2E=1, then
# down.sh (always, from a trap; unless E2E_KEEP_CLUSTER=1). Prints the time of each step.
#
#   test/kind/e2e.sh                      # everything
#   test/kind/e2e.sh bench                # the benchmarks of test/e2e instead of the tests
#   test/kind/e2e.sh storage              # the upstream storage suites instead (test/storage-e2e)
#   test/kind/e2e.sh gateway-conformance  # the Gateway API conformance suite instead (test/gateway-conformance)
#   E2E_KEEP_CLUSTER=1 test/kind/e2e.sh   # keep the cluster and its simulator (down.sh removes them)
#   E2E_REUSE=1 test/kind/e2e.sh          # test on a kept cluster instead of a new one
#   E2E_RUN=TestLoadBalancer test/kind/e2e.sh   # go test -run
#   UP_SKIP_BUILD=1 test/kind/e2e.sh      # no build-all.sh; the images must exist
#   E2E_STORAGE=quick test/kind/e2e.sh    # then the upstream storage suites on the same
#                                         # cluster (test/storage-e2e/quick.txt; full: all)
#   E2E_GATEWAY_CONFORMANCE=1 test/kind/e2e.sh   # then the Gateway API conformance suite
#                                         # on the same cluster (test/gateway-conformance)
#   E2E_CHAOS=short test/kind/e2e.sh      # then the churn tier (test/e2e/chaos) on the same
#                                         # cluster; long: make bench
#   E2E_RUN='^$' E2E_CHAOS=short test/kind/e2e.sh   # the churn tier alone (make test-chaos)
# After any, TestZZTeardown runs once more: they must leave nothing in the IaaS either.
# make test runs E2E_STORAGE=quick E2E_GATEWAY_CONFORMANCE=1 E2E_CHAOS=short: one cluster
# for the four tiers.
#
# Logs of every component go to $E2E_ARTIFACTS (default /var/tmp/kube-iaas-e2e-<time>)
# when a step or a test fails.
source "$(dirname "$0")/lib.sh"
# Its own cluster, whatever KIND_CLUSTER the shell has (it may name a demo's).
export KIND_CLUSTER=${E2E_CLUSTER:-kube-iaas-e2e}
source "$KIND_SRC_DIR/images.env"
source "$KIND_SRC_DIR/profile.sh"
MODE=${1:-test}
[[ ${E2E_STORAGE:-} =~ ^(quick|full)?$ ]] || { log "E2E_STORAGE must be quick or full, not $E2E_STORAGE"; exit 2; }
[[ ${E2E_CHAOS:-} =~ ^(short|long)?$ ]] || { log "E2E_CHAOS must be short or long, not $E2E_CHAOS"; exit 2; }
[[ ${E2E_GATEWAY_CONFORMANCE:-} =~ ^1?$ ]] || { log "E2E_GATEWAY_CONFORMANCE must be 1 or empty, not $E2E_GATEWAY_CONFORMANCE"; exit 2; }
ARTIFACTS=${E2E_ARTIFACTS:-/var/tmp/kube-iaas-e2e-$(date -u +%Y%m%dT%H%M%S)}
T_ALL=$SECONDS
TIMINGS=()

collect_logs() {
  mkdir -p "$ARTIFACTS"
  log "collecting logs into $ARTIFACTS"
  cp "$STATE/iaas-sim.log" "$STATE/manifests.yaml" "$ARTIFACTS/" 2>/dev/null
  [[ -s $KUBECONFIG ]] || return 0
  $K get nodes -o wide >"$ARTIFACTS/nodes.txt" 2>&1
  $K get nodes -o yaml >"$ARTIFACTS/nodes.yaml" 2>&1
  $K get pods -A -o wide >"$ARTIFACTS/pods.txt" 2>&1
  $K get events -A --sort-by=.lastTimestamp >"$ARTIFACTS/events.txt" 2>&1
  $K get pv,pvc,volumeattachments,svc -A -o wide >"$ARTIFACTS/storage-services.txt" 2>&1
  local ns pod c n
  while read -r ns pod; do
    for c in $($K -n "$ns" get pod "$pod" -o jsonpath='{.spec.containers[*].name}' 2>/dev/null); do
      $K -n "$ns" logs "$pod" -c "$c" >"$ARTIFACTS/$ns.$pod.$c.log" 2>&1
      $K -n "$ns" logs "$pod" -c "$c" --previous >"$ARTIFACTS/$ns.$pod.$c.previous.log" 2>/dev/null || rm -f "$ARTIFACTS/$ns.$pod.$c.previous.log"
    done
  done < <($K get pods -n kube-system --no-headers -o custom-columns=NS:.metadata.namespace,N:.metadata.name 2>/dev/null)
  for n in $(docker ps -a --format '{{.Names}}' --filter "label=io.x-k8s.kind.cluster=$CLUSTER"); do
    docker exec "$n" journalctl -u kubelet --no-pager -n 400 >"$ARTIFACTS/$n.kubelet.log" 2>&1
  done
}

STEP_NAME="" STEP_T0=0
timed() {
  STEP_NAME=$1 STEP_T0=$SECONDS
  shift
  step "$STEP_NAME" "$@"
  TIMINGS+=("$(printf '%-30s %5ss' "$STEP_NAME" $((SECONDS - STEP_T0)))")
  STEP_NAME=""
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [[ -n $STEP_NAME ]] && TIMINGS+=("$(printf '%-30s %5ss  FAILED' "$STEP_NAME" $((SECONDS - STEP_T0)))") && STEP_NAME=""
  ((rc != 0)) && collect_logs
  [[ ${E2E_KEEP_CLUSTER:-0} == 1 ]] || timed "down.sh" "$KIND_SRC_DIR/down.sh"
  log "e2e: total $((SECONDS - T_ALL))s"
  printf '  %s\n' "${TIMINGS[@]}" >&2
  if ((rc == 0)); then log "e2e: PASS"; else log "e2e: FAIL (rc $rc; logs in $ARTIFACTS)"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tests start from a new cluster and simulator: what a crashed earlier run left
# (namespaces, disks, load balancers) would fail the teardown checks. E2E_REUSE=1 (or
# bench mode) keeps them, e.g. after E2E_KEEP_CLUSTER=1.
leftovers() {
  [[ -d $STATE ]] && return 0
  "$KIND_SRC_DIR/docker.sh" status >/dev/null 2>&1 &&
    [[ -n $(docker ps -a -q --filter "label=io.x-k8s.kind.cluster=$CLUSTER") ]]
}
if [[ $MODE != bench && ${E2E_REUSE:-0} != 1 ]] && leftovers; then
  timed "down.sh (left by an earlier run)" "$KIND_SRC_DIR/down.sh"
fi
timed "OS packages (hack/install-deps.sh)" "$REPO_ROOT/hack/install-deps.sh"
timed "up.sh (cluster $CLUSTER)" "$KIND_SRC_DIR/up.sh"
source "$STATE/env"
export IAAS_ENDPOINT IAAS_CREDENTIALS IAAS_SOURCE_IP IAAS_ROUTE_TABLE IAAS_CLUSTER_ID
# The chaos tier kill -9s the simulator and starts it again from what up.sh left here.
export IAAS_SIM_STATE=$STATE
run_go() {
  (cd "$REPO_ROOT/test/e2e" && KUBE_IAAS_E2E=1 E2E_ARTIFACTS=$ARTIFACTS \
    E2E_IMAGE=${E2E_IMAGE:-$KUBE_REGISTRY/kube-proxy:$KUBE_VERSION} go test -count=1 -v "$@")
}
run_chaos() {
  local timeout=${E2E_CHAOS_TIMEOUT:-40m}
  [[ $E2E_CHAOS == long ]] && timeout=${E2E_CHAOS_TIMEOUT:-160m}
  (cd "$REPO_ROOT/test/e2e" && KUBE_IAAS_E2E=1 KUBE_IAAS_CHAOS=$E2E_CHAOS E2E_ARTIFACTS=$ARTIFACTS \
    E2E_IMAGE=${E2E_IMAGE:-$KUBE_REGISTRY/kube-proxy:$KUBE_VERSION} go test -count=1 -v -timeout "$timeout" -run '^TestChaos$' ./chaos)
}
case $MODE in
test) timed "go test ./test/e2e/..." run_go -timeout "${E2E_TIMEOUT:-25m}" ${E2E_RUN:+-run "$E2E_RUN"} ./... ;;
bench) timed "go test -bench ./test/e2e/..." run_go -run '^$' -bench "${E2E_BENCH:-.}" -benchtime 1x -timeout "${E2E_TIMEOUT:-60m}" ./... ;;
storage) timed "storage e2e (test/storage-e2e)" env E2E_ARTIFACTS="$ARTIFACTS" "$REPO_ROOT/test/storage-e2e/run.sh" ;;
gateway-conformance) timed "gateway conformance (test/gateway-conformance)" env E2E_ARTIFACTS="$ARTIFACTS" "$REPO_ROOT/test/gateway-conformance/run.sh" ;;
*) log "usage: $0 [test|bench|storage|gateway-conformance]"; exit 2 ;;
esac
AFTER=()
if [[ -n ${E2E_STORAGE:-} ]]; then
  timed "storage e2e ($E2E_STORAGE, test/storage-e2e)" env E2E_ARTIFACTS="$ARTIFACTS/storage-e2e" \
    STORAGE_E2E_SET="$E2E_STORAGE" "$REPO_ROOT/test/storage-e2e/run.sh"
  AFTER+=(storage)
fi
if [[ -n ${E2E_GATEWAY_CONFORMANCE:-} ]]; then
  timed "gateway conformance (test/gateway-conformance)" env E2E_ARTIFACTS="$ARTIFACTS/gateway-conformance" \
    "$REPO_ROOT/test/gateway-conformance/run.sh"
  AFTER+=(gateway-conformance)
fi
# The churn tier last: nothing else may run under its faults and kills.
if [[ -n ${E2E_CHAOS:-} ]]; then
  timed "go test ./test/e2e/chaos ($E2E_CHAOS)" run_chaos
  AFTER+=(chaos)
fi
if ((${#AFTER[@]})); then
  timed "teardown check after ${AFTER[*]}" run_go -timeout 10m -run '^TestZZTeardown$' .
fi
