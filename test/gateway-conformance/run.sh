#!/usr/bin/env bash
# Runs the Gateway API conformance suite (sigs.k8s.io/gateway-api/conformance v1.6.3),
# profile GATEWAY-HTTP (core HTTPRoute), against our Gateway controller (GatewayClass
# iaas, controllerName kube-iaas.io/gateway, in the CCM) on a kind cluster that
# test/kind/up.sh brought up (it installs the standard-channel CRDs and the GatewayClass).
# The suite reaches each Gateway at the VIP in its status.addresses: the simulated IaaS's
# L7 load balancer, reachable from this host. Builds conformance.test and the echo-basic
# image (cached), loads the images into the nodes, runs the suite, prints passed/failed/
# skipped and writes the report and the log to $ARTIFACTS.
# test/kind/e2e.sh gateway-conformance calls it (up.sh before, down.sh after); on a
# cluster kept with E2E_KEEP_CLUSTER=1: KIND_CLUSTER=<cluster> run.sh.
#
#   GATEWAY_CONFORMANCE_RUN=HTTPRouteSimpleSameNamespace   one test only (-run-test)
#   GATEWAY_CONFORMANCE_TIMEOUT=40m                         the whole run
# SupportedFeatures and skips, and why: README.md.
source "$(dirname "$0")/../kind/lib.sh"
source "$KIND_SRC_DIR/profile.sh"
HERE=$REPO_ROOT/test/gateway-conformance
ARTIFACTS=${E2E_ARTIFACTS:-/var/tmp/kube-iaas-gateway-conformance-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$ARTIFACTS"
[[ -s $STATE/env ]] || { log "no cluster state in $STATE (run test/kind/up.sh first)"; exit 1; }
source "$STATE/env"
export KUBECONFIG

OUT=$("$HERE/build.sh")
mapfile -t IMAGES < <("$HERE/build-images.sh")
"$KIND_SRC_DIR/load-images.sh" "$CLUSTER" "${IMAGES[@]}"

# The core (Gateway, HTTPRoute, ReferenceGrant) and the extended features the controller
# and the IaaS L7 listener implement (README.md says where).
FEATURES=${GATEWAY_CONFORMANCE_FEATURES:-Gateway,HTTPRoute,ReferenceGrant,GatewayPort8080,HTTPRoutePortRedirect,HTTPRouteSchemeRedirect,HTTPRouteParentRefPort,HTTPRoute303RedirectStatusCode,HTTPRoute307RedirectStatusCode,HTTPRoute308RedirectStatusCode,HTTPRouteNamedRouteRule,HTTPRouteBackendProtocolWebSocket}
# Core tests skipped: none yet. A test goes here only if it depends on a feature the
# IaaS L7 load balancer does not have; README.md gives each reason.
SKIPS=${GATEWAY_CONFORMANCE_SKIPS:-}

T0=$SECONDS
rc=0
(
  cd "$ARTIFACTS"
  "$OUT/conformance.test" -test.v -test.timeout="${GATEWAY_CONFORMANCE_TIMEOUT:-40m}" \
    -test.run '^TestGatewayConformance$' \
    -gateway-class=iaas -conformance-profiles=GATEWAY-HTTP -supported-features="$FEATURES" \
    ${SKIPS:+-skip-tests="$SKIPS"} ${GATEWAY_CONFORMANCE_RUN:+-run-test="$GATEWAY_CONFORMANCE_RUN"} \
    -organization=kube-iaas -project=kube-iaas -url=https://github.com/kube-iaas/kube-iaas \
    -version=dev -contact=kube-iaas -report-output="$ARTIFACTS/report.yaml" -cleanup-base-resources=true
) >"$ARTIFACTS/conformance.log" 2>&1 || rc=$?
WALL=$((SECONDS - T0))

# Passed/failed/skipped from go test's own record of each conformance test (the subtests
# of TestGatewayConformance/<ShortName>, depth 1).
summary() {
  local p f s
  p=$(grep -cE '^    --- PASS: TestGatewayConformance/[^/ ]+ ' "$ARTIFACTS/conformance.log" || true)
  f=$(grep -cE '^    --- FAIL: TestGatewayConformance/[^/ ]+ ' "$ARTIFACTS/conformance.log" || true)
  s=$(grep -cE '^    --- SKIP: TestGatewayConformance/[^/ ]+ ' "$ARTIFACTS/conformance.log" || true)
  echo "gateway conformance (GATEWAY-HTTP): ran $((p + f)), passed $p, failed $f, skipped $s"
  # No failure is no match: grep's status 1 must not end the script (pipefail).
  { grep -E '^    --- FAIL: TestGatewayConformance/[^/ ]+ ' "$ARTIFACTS/conformance.log" || true; } |
    sed 's/^ *--- FAIL: TestGatewayConformance\//  FAILED: /'
}
summary | tee "$ARTIFACTS/summary.txt" >&2
log "gateway conformance: exit $rc in ${WALL}s; report and log in $ARTIFACTS"
exit $rc
