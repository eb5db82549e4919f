# Kiln: `make` builds the default image (kiln.yaml) into _out/, `make test` runs every test.
# Run `make help` for the rest.

SHELL        := /bin/bash
GO           ?= go
KILN         := $(GO) run ./cmd/kiln
export KILN_CACHE ?= $(HOME)/.cache/kiln
# Packages whose tests boot QEMU; `make qemu-test` runs them, `make test` runs them last.
E2E_PKGS     := ./qemu/e2e/...
UNIT_PKGS     = $(shell $(GO) list ./... | grep -v /qemu/e2e)

.DEFAULT_GOAL := image
.PHONY: image deps check-deps kernel kernel-config kernel-repro test unit-test qemu-test powercut repro bench kube-bench cluster-test generate clean help

image: check-deps ## build the default image into _out/ (kernel cached under $KILN_CACHE)
	$(KILN) build -f kiln.yaml --generate-keys

deps: ## install every Debian package the build and the tests need (root)
	bash ci/deps.sh

check-deps:
	@missing="$$(bash ci/deps.sh --missing)"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then bash ci/deps.sh; \
		else echo "missing host packages; run as root:"; \
		     echo "  apt-get update && $$(bash ci/deps.sh --print)"; exit 1; fi; \
	fi

kernel: check-deps ## build only the kernel (on a cache hit the kernel step takes ~0.04 s)
	$(KILN) kernel build -f kiln.yaml

kernel-config: check-deps ## re-resolve the Kconfig fragments into kernel/config/resolved-x86_64.config
	$(KILN) kernel config -f kiln.yaml

test: check-deps unit-test qemu-test ## unit, oracle and QEMU end-to-end tests

unit-test: ## unit and oracle tests (no VM)
	$(GO) vet ./...
	$(GO) test -count=1 $(UNIT_PKGS)
	cd kubernetes && $(GO) vet ./mountcmd/ ./nftcmd/ ./podroutes/ && $(GO) test -count=1 ./mountcmd/ ./nftcmd/ ./podroutes/

qemu-test: image ## boot _out/ in QEMU and check it end to end (serial logs in _out/qemu-logs/)
	KILN_E2E=1 $(GO) test -count=1 -timeout 120m -v $(E2E_PKGS)

powercut: image ## 20 power-cut trials of an upgrade (TestPowerCut), results into docs/benchmarks.md
	commit=$$(git rev-parse --short=12 HEAD); git diff --quiet HEAD || commit="$$commit+uncommitted changes"; \
	KILN_E2E=1 KILN_POWERCUT_TRIALS=20 $(GO) test -count=1 -timeout 240m -v -run '^TestPowerCut$$' ./qemu/e2e/ && \
	POWERCUT_COMMIT=$$commit bash ci/powercut-report.sh

repro: check-deps ## build twice in two directories with fresh caches (kernel shared) and compare
	bash ci/repro.sh

kernel-repro: check-deps ## two cold kernel builds in two fresh caches must give the same vmlinuz (~20 min)
	bash ci/kernel-repro.sh

bench: image ## measure build, sizes, machined's make-up and boot into docs/benchmarks.md (BENCH_BASE=rev: that boot beside)
	bash ci/bench.sh

kube-bench: image ## the Kubernetes payload built cold, its sizes, and one controlplane to node Ready, into docs/benchmarks.md
	bash ci/kube-bench.sh

cluster-test: image ## three VMs on a lab network form one Kubernetes cluster (by hand, ~30 min), into docs/benchmarks.md
	bash ci/cluster-test.sh

generate: ## regenerate the gRPC Go code from api/**/*.proto (protoc + plugins pinned in go.mod)
	bash api/generate.sh

clean: ## remove _out/ (the cache under $KILN_CACHE stays)
	rm -rf _out

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16
