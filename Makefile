# kube-iaas. `make demo` runs kube-iaas on a kind cluster against the simulated IaaS;
# `make test` runs the whole suite.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
FUZZTIME ?= 10s
# Tests use binaries from here when present, so every tier tests what `build` built.
export KUBE_IAAS_BIN := $(BIN)

# The tiers share machine-wide things (ports, the kube-iaas-e2e cluster): never in parallel.
.NOTPARALLEL:

.PHONY: all build unit test lint fuzz demo demo-down demo-netns demo-netns-down bench clean \
	test-sim test-dataplane test-sanity test-integration test-integration-tencentcloud test-demo-netns test-demo test-e2e test-chaos test-storage-e2e test-gateway-conformance

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	cd test/integration && $(GO) vet ./...
	cd test/e2e && $(GO) vet ./...

# unit: fast tests that need no root, no Docker and start no processes (-short).
unit:
	$(GO) test -race -short -count=1 ./...

# fuzz: every fuzz target of the main module, $(FUZZTIME) each (hack/fuzz.sh says how a
# run that failed on Go's own deadline race is told from a failing input).
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) hack/fuzz.sh

# test: the full suite as CI runs it, as root. A test that would skip for lack of root
# or of a tool fails instead (KUBE_IAAS_STRICT=1).
test: export KUBE_IAAS_STRICT := 1
test: lint build unit fuzz test-sim test-dataplane test-sanity test-integration test-integration-tencentcloud test-demo-netns test-demo test-e2e

# The simulator as a real process over real HTTP: conformance, tenancy, kill -9.
test-sim: build
	$(GO) test -count=1 ./test/iaassim/ ./test/apitest/ ./cmd/iaas-sim/ ./cmd/iaasctl/

# The data plane as root: network namespaces, routes, load balancers, loop devices.
test-dataplane: build
	$(GO) test -count=1 ./test/iaassim/dataplane/...

# csi-sanity against the real driver and simulator on real loop devices and mounts.
test-sanity: build
	$(GO) test -count=1 -timeout 20m ./test/sanity/...

# Real kube-apiserver + etcd + the CCM binary + the simulator (own go.mod).
# kube-apiserver and etcd are built once from the Go module proxy into
# $${KUBE_IAAS_CACHE:-~/.cache/kube-iaas} (about 6 min cold), then reused.
test-integration: build
	test/integration/hack/build-kube.sh >/dev/null
	cd test/integration && $(GO) vet ./... && $(GO) test -count=1 -timeout 20m ./...

# The same integration tests with the CCM on its tencentcloud backend, pointed at the
# simulator's Tencent Cloud API 3.0 front-end (README "Running on Tencent Cloud").
test-integration-tencentcloud: build
	test/integration/hack/build-kube.sh >/dev/null
	cd test/integration && KUBE_IAAS_BACKEND=tencentcloud $(GO) test -count=1 -timeout 20m ./...

# The kind tiers use the cluster kube-iaas-e2e (test/kind/profile.sh), so they never
# touch a `make demo` cluster (kube-iaas). Both need root and start Docker if it is not
# running (test/kind/docker.sh); the first run builds Kubernetes and every image offline
# into $${KUBE_IAAS_CACHE:-~/.cache/kube-iaas} (about 30 min cold), later runs reuse it.

# kind end to end on one cluster: the tests of test/e2e, then the quick set of the
# upstream storage suites (test/storage-e2e/quick.txt, one spec per capability of the
# CSI driver), then the Gateway API conformance suite (test/gateway-conformance, about
# 1 min once built), then the churn tier in short mode (test/e2e/chaos), then the
# teardown check again; cleans up. The full storage set and the long churn: make bench.
test-e2e: build
	E2E_STORAGE=quick E2E_GATEWAY_CONFORMANCE=1 E2E_CHAOS=short test/kind/e2e.sh

# The churn tier alone (test/e2e/chaos, issue 10) on a new kind cluster: 60 Service and
# 24 PVC lifecycles under 20 % IaaS faults while the CCM, the CSI controller, a CSI node
# plugin and the simulator are killed with -9; then no leak, no double attach, no
# checksum mismatch; prints a CHAOS SUMMARY line. make test runs it within test-e2e.
test-chaos: build
	E2E_RUN='^$$' E2E_CHAOS=short test/kind/e2e.sh

# The upstream Kubernetes storage suites ("External Storage", k8s.io/kubernetes v1.37.2
# test/e2e/storage) against our CSI driver on a new e2e cluster, every spec but the
# skips (test/storage-e2e/README.md: skips, numbers); make test runs the quick set
# within test-e2e. e2e.test, ginkgo and the test images are built offline and cached.
test-storage-e2e: build
	test/kind/e2e.sh storage

# The Gateway API conformance suite (sigs.k8s.io/gateway-api/conformance v1.6.3, profile
# GATEWAY-HTTP) against our Gateway controller on the e2e cluster; conformance.test and
# the echo-basic image are built offline and cached (test/gateway-conformance/README.md).
test-gateway-conformance: build
	test/kind/e2e.sh gateway-conformance

# make demo end to end on its own cluster, then make demo-down; fails if a load
# balancer of the sample app does not answer.
test-demo: build
	KIND_CLUSTER=kube-iaas-e2e ./hack/demo.sh || { KIND_CLUSTER=kube-iaas-e2e ./hack/demo.sh down; exit 1; }
	KIND_CLUSTER=kube-iaas-e2e ./hack/demo.sh down

# The netns demo (no Docker: two network-namespace instances, a kernel LB, a loop disk).
test-demo-netns: build
	./hack/demo-netns.sh down >/dev/null
	./hack/demo-netns.sh || { ./hack/demo-netns.sh down; exit 1; }
	./hack/demo-netns.sh down

demo: build
	./hack/demo.sh

demo-down:
	./hack/demo.sh down

demo-netns: build
	./hack/demo-netns.sh

demo-netns-down:
	./hack/demo-netns.sh down

bench: build
	./hack/install-deps.sh bench
	test/integration/hack/build-kube.sh >/dev/null
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./test/bench/... ./cloudprovider
	E2E_STORAGE=full E2E_CHAOS=long test/kind/e2e.sh bench
	cd test/integration && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 40m ./

clean:
	rm -rf $(BIN)
