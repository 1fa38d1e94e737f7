# kube-iaas. `make demo` runs the simulated IaaS; `make test` runs the whole suite.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
PKGS_UNIT := $(shell $(GO) list ./... 2>/dev/null)
FUZZTIME ?= 10s
export KUBE_IAAS_BIN := $(BIN)

.PHONY: all build unit test lint fuzz demo bench clean test-sim test-dataplane test-sanity test-integration

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...

# unit: fast tests that need no root and no Docker.
unit:
	$(GO) test -race -count=1 ./...

# fuzz: every fuzz target for a bounded time each.
fuzz:
	@set -e; for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$spec/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz $$spec $$f ($(FUZZTIME))"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$spec; \
	  done; done

# test: the full suite as CI runs it (as root; skips for missing root or tools fail).
test: export KUBE_IAAS_STRICT := 1
test: lint build unit fuzz test-sim

test-sim: build
	$(GO) test -count=1 -v ./test/iaassim/... 2>&1 | tail -n 200

demo: build
	./hack/demo.sh

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x ./test/bench/...

clean:
	rm -rf $(BIN)
