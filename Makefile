# The two commands a newcomer runs: `make demo` and `make test`. Both install their pinned
# prerequisites into .venv when missing and start/stop their own servers.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      ?= .venv
PYTHON    ?= python3
REQS      := tools/requirements.txt tools/constraints.txt
STAMP     := $(VENV)/.installed

export PATH := $(abspath $(VENV))/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export CARGO_TERM_COLOR ?= never

.PHONY: help venv build layer layers image image-tools image-context sam-build lint template test demo clean

help:
	@echo "make demo   build the bootstrap and invoke every handler through the Lambda emulator"
	@echo "make test   lint, build the release bootstrap, run the whole test suite"
	@echo "make bench  benchmarks against bare lambda_runtime and Powertools (BENCHMARKS.md)"
	@echo "make layers the layer zips for x86_64 and arm64 (make layer ARCH=arm64 for one)"
	@echo "make image  the container image ($(IMAGE)) with podman (CONTAINER=docker on a Docker host)"
	@echo "make venv   install the pinned tools (cargo-lambda, zig, aws-sam-cli, moto, cfn-lint) into $(VENV)"

venv: $(STAMP)

$(STAMP): $(REQS)
	@echo "==> installing pinned tools into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt -c tools/constraints.txt
	touch $@

# The artifact that ships, built by `cargo lambda build --release`. On x86_64 it is one static
# bootstrap for the zip, the layer and the container image (CI tests exactly what each ships):
# crt-static, so nothing is loaded from the host and it runs FROM scratch, and
# relocation-model=static, a non-PIE executable ~0.6 MB smaller (no dynamic relocations), which
# keeps the image under 10 MB; its own code then loads at a fixed address (stack, heap and
# mappings stay randomised), a trade memory-safe Rust makes acceptable. cargo lambda uses plain
# cargo for it (zig cannot link glibc statically), and rustc (1.90+) links with its own lld by
# default, so --icf=safe folds identical functions whose address nothing takes (a linker
# override to GNU ld would reject the flag). ARCH=arm64 builds the usual zig-linked Graviton
# binary (`--arm64`) into target/lambda-arm64.
ARCH      ?= x86_64
ARCH_FLAG := $(if $(filter arm64,$(ARCH)),--arm64,)
LAMBDA_DIR := target/$(if $(filter arm64,$(ARCH)),lambda-arm64,lambda)
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static -C link-arg=-Wl,--icf=safe
build: venv
ifeq ($(ARCH),arm64)
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --locked --package tern-functions --bin bootstrap --arm64 --lambda-dir $(LAMBDA_DIR)
else
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" cargo lambda build --release --locked --compiler cargo \
		--target x86_64-unknown-linux-gnu --package tern-functions --bin bootstrap --lambda-dir $(LAMBDA_DIR)
	@# No interpreter: a static executable.
	@! readelf -l $(LAMBDA_DIR)/bootstrap/bootstrap | grep INTERP || { echo "the bootstrap is dynamically linked"; exit 1; }
endif
	@ls -l $(LAMBDA_DIR)/bootstrap/bootstrap

# The shared layer: bootstrap at the zip root with mode 0755, so Lambda finds /opt/bootstrap.
LAYER_ZIP := target/layer/tern-bootstrap-$(ARCH).zip
layer: build
	rm -rf target/layer/stage-$(ARCH) && mkdir -p target/layer/stage-$(ARCH)
	install -m 0755 $(LAMBDA_DIR)/bootstrap/bootstrap target/layer/stage-$(ARCH)/bootstrap
	rm -f $(LAYER_ZIP) && cd target/layer/stage-$(ARCH) && zip -q -X ../$(notdir $(LAYER_ZIP)) bootstrap
	@# grep reads the whole listing (no -q): an early exit would SIGPIPE unzip under pipefail.
	@unzip -Z $(LAYER_ZIP) | grep -- '-rwxr-xr-x.*bootstrap' >/dev/null || { echo "bootstrap is not executable in $(LAYER_ZIP)"; exit 1; }
	@readelf -h target/layer/stage-$(ARCH)/bootstrap | grep -E 'Machine: +$(if $(ARCH_FLAG),AArch64,Advanced Micro Devices X86-64)' >/dev/null \
		|| { echo "bootstrap in $(LAYER_ZIP) is not an $(ARCH) executable"; exit 1; }
	@ls -l $(LAYER_ZIP)

# Both architectures' layer zips.
layers:
	$(MAKE) layer ARCH=x86_64
	$(MAKE) layer ARCH=arm64

# The container image (Dockerfile): the x86_64 bootstrap `make build` made and the build
# machine's CA bundle, staged in target/image as the build context. podman's flags suit machines
# without systemd or overlayfs; CONTAINER=docker on a Docker host.
PODMAN    := podman --storage-driver vfs --cgroup-manager cgroupfs --runtime runc
CONTAINER ?= $(PODMAN)
IMAGE     ?= tern-bootstrap:latest
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
IMAGE_MAX_BYTES := 10000000
export TERN_CONTAINER := $(CONTAINER)
export TERN_IMAGE := $(IMAGE)

image-tools:
	@command -v $(firstword $(CONTAINER)) >/dev/null || { echo "==> installing podman"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null; }
	@if [ "$(firstword $(CONTAINER))" = podman ] && ! command -v runc >/dev/null; then echo "==> installing runc"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null; fi
	@test -s $(CA_BUNDLE) || { echo "==> installing ca-certificates"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ca-certificates >/dev/null; }

image-context:
	$(MAKE) build ARCH=x86_64
	rm -rf target/image && mkdir -p target/image
	install -m 0755 target/lambda/bootstrap/bootstrap target/image/bootstrap
	install -m 0644 $(CA_BUNDLE) target/image/ca-certificates.crt

image: image-tools image-context
	$(CONTAINER) build --tag $(IMAGE) --file Dockerfile target/image
	@size=$$($(CONTAINER) image inspect --format '{{.Size}}' $(IMAGE)); \
		echo "$(IMAGE): $$size bytes (limit $(IMAGE_MAX_BYTES))"; \
		test "$$size" -le $(IMAGE_MAX_BYTES) || { echo "$(IMAGE) is larger than $(IMAGE_MAX_BYTES) bytes"; exit 1; }

# sam build, offline, of the whole template: the layer through layer/Makefile and the zip
# functions through functions/package/Makefile (BuildMethod: makefile), built in source.
sam-build: venv build
	sam build --build-in-source --template template.yaml --build-dir target/sam-build
	test -x target/sam-build/BootstrapLayer/bootstrap
	for f in RoutingFunction OrdersFunction PaymentsFunction TelemetryFunction; do \
		test -s target/sam-build/$$f/README.md || { echo "sam build produced no package for $$f"; exit 1; }; done

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# The published crates in the feature combinations teams use: tern-runtime without its default
# feature, tern-middleware with none, each feature alone, and all; then each example with exactly
# the features of its own manifest (a workspace build unifies features, which would hide a
# missing one). clippy, so that a warning in any one combination fails too; check mode, quick.
MIDDLEWARE_FEATURES := batch idempotency dynamodb secrets secretsmanager metrics
EXAMPLES := $(patsubst examples/%/Cargo.toml,%,$(wildcard examples/*/Cargo.toml))
.PHONY: features docs package
features:
	cargo clippy --locked --quiet --package tern-runtime --no-default-features -- -D warnings
	cargo clippy --locked --quiet --package tern-middleware --no-default-features -- -D warnings
	@for feature in $(MIDDLEWARE_FEATURES); do \
		echo "==> tern-middleware with only the feature $$feature"; \
		cargo clippy --locked --quiet --package tern-middleware --no-default-features --features $$feature -- -D warnings \
			|| { echo "tern-middleware does not build with only the feature $$feature"; exit 1; }; \
	done
	cargo clippy --locked --quiet --package tern-middleware --all-features -- -D warnings
	@for example in $(EXAMPLES); do \
		echo "==> examples/$$example with its own features"; \
		cargo clippy --locked --quiet --package tern-example-$$example -- -D warnings \
			|| { echo "examples/$$example does not build with the features its Cargo.toml names"; exit 1; }; \
	done

# Rustdoc warnings (broken or private links, missing docs) fail. tern-functions (not published)
# is left out while the docs of its kinesis module link a private item (`batch_config`).
docs:
	RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --workspace --exclude tern-functions

# The two crates as crates.io would get them (target/package/*.crate): manifests, versions of
# the path dependencies, the files packaged. --no-verify: verification builds both from their
# .crate files in a configuration of their own, the AWS SDK included (11 min on 2 shared cores);
# the README snippet test builds them as a team's path dependencies instead, and `features`
# builds every feature combination.
package:
	cargo package --locked --allow-dirty --no-verify --package tern-runtime --package tern-middleware

# The SAM template: cfn-lint 1.53.x (checks inside SAM resources), SAM's own validation, and
# the project's rules (ReportBatchItemFailures on batch sources, no writes on Resource "*").
template: venv
	cfn-lint template.yaml
	sam validate --lint --region us-east-1
	$(VENV)/bin/python tools/check_template.py template.yaml
	$(VENV)/bin/python tools/test_check_template.py

# Supply chain: licences, banned crates and sources (crates.io only) per deny.toml, with a
# pinned cargo-deny built into the virtualenv on first use (a few minutes on 2 cores).
# `advisories` needs the RustSec database from GitHub: `make deny DENY_CHECKS=all` where the
# network allows it.
.PHONY: deny fuzz
CARGO_DENY_VERSION := 0.20.2
CARGO_DENY := $(VENV)/.cargo-deny-$(CARGO_DENY_VERSION)
DENY_CHECKS ?= bans licenses sources
$(CARGO_DENY):
	@echo "==> installing cargo-deny $(CARGO_DENY_VERSION) into $(VENV)"
	cargo install --locked --quiet --version $(CARGO_DENY_VERSION) --root $(VENV) cargo-deny
	touch $@
deny: $(CARGO_DENY)
	$(VENV)/bin/cargo-deny check --hide-inclusion-graph $(DENY_CHECKS)

# The fuzz targets run 20 s each inside `make test`; this runs them longer (FUZZ_SECONDS each).
FUZZ_SECONDS ?= 600
fuzz: venv
	TERN_FUZZ_SECONDS=$(FUZZ_SECONDS) cargo test --package tern-functions --test fuzz -- --nocapture

# Emulator tests run against the release artifact, so panic handling is proven on what ships.
# No incremental state (over a GB): a fresh clone in CI would only write it, never read it.
# `CARGO_INCREMENTAL=1 make test` keeps it.
test: export CARGO_INCREMENTAL ?= 0
test: venv lint features docs package deny template build layer sam-build image
	TERN_BOOTSTRAP=$(abspath $(LAMBDA_DIR)/bootstrap/bootstrap) TERN_LAYER_ZIP=$(abspath $(LAYER_ZIP)) cargo test --workspace --no-fail-fast

# Benchmarks (BENCHMARKS.md): the functions under test and the harness built with the release
# profile, Powertools and awslambdaric pinned into their own venv, then every run alternated.
BENCH_PYVENV := target/bench/pyvenv
BENCH_BIN_DIR := $(or $(CARGO_TARGET_DIR),target)/release
$(BENCH_PYVENV)/.installed: bench/python/requirements.txt
	$(PYTHON) -m venv $(BENCH_PYVENV)
	$(BENCH_PYVENV)/bin/pip install --quiet --disable-pip-version-check -r bench/python/requirements.txt
	touch $@
.PHONY: bench
bench: venv layer $(BENCH_PYVENV)/.installed
	cargo build --release --locked --package tern-bench --package tern-bench-bare --bins
	$(BENCH_BIN_DIR)/tern-bench --bin-dir $(BENCH_BIN_DIR) --python $(BENCH_PYVENV)/bin/python \
		--bootstrap $(LAMBDA_DIR)/bootstrap/bootstrap --layer $(LAYER_ZIP) --image $(IMAGE) \
		--out target/bench/results.md

demo: venv build
	TERN_BOOTSTRAP=$(abspath $(LAMBDA_DIR)/bootstrap/bootstrap) cargo run --quiet --package tern-testkit --bin demo

clean:
	cargo clean
	rm -rf $(VENV)
