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

.PHONY: help venv build layer layers image image-tools image-context sam-build lint template test demo clean deploy-local deploy-test

help:
	@echo "make demo   build the bootstrap and invoke every handler through the Lambda emulator"
	@echo "            (SOURCES=deployed: through the deployed queues, stream, topic and bucket: make deploy-local)"
	@echo "make test   lint, build the release bootstrap, run the whole test suite"
	@echo "make bench  benchmarks against bare lambda_runtime and Powertools (BENCHMARKS.md)"
	@echo "make layers the layer zips for x86_64 and arm64 (make layer ARCH=arm64 for one)"
	@echo "make image  the container image ($(IMAGE)) with podman (CONTAINER=docker on a Docker host)"
	@echo "make venv   install the pinned tools (cargo-lambda, zig, aws-sam-cli, moto, cfn-lint) into $(VENV)"
	@echo "make template  transform template.yaml and check it: cfn-lint, sam validate, least privilege, checkov"
	@echo "make deploy-local  deploy the application into moto (CloudFormation), drive it through its queues,"
	@echo "            stream, topic and bucket with the sample events, as Lambda would (the layer's bootstrap in the emulator)"
	@echo "make deploy-test   the local deployment's tests, the buildspec's and README's sam deploy against moto,"
	@echo "            and the buildspec's build phase run twice on one commit (the AWS CLI in $(AWSCLI_VENV))"

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
# A fence against growth, not the target: BENCHMARKS.md's target is 10 MB, met by the
# four-handler bootstrap (9.77 MB) and missed since it also hosts kafka and the HTTP handlers
# (lambda_http, axum), reads SSM parameters and bounds SDK calls by the deadline (12.21 MB
# image; where the bytes went and what would win them back: BENCHMARKS.md, "Size"). A change
# that grows the image past this fails `make image`.
IMAGE_MAX_BYTES := 13000000
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
	for f in RoutingFunction OrdersFunction PaymentsFunction TelemetryFunction ApiFunction; do \
		test -s target/sam-build/$$f/README.md || { echo "sam build produced no package for $$f"; exit 1; }; done

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# The published crates in the feature combinations teams use: tern-runtime without its default
# feature, tern-middleware with none, each feature alone, and all; then each example with exactly
# the features of its own manifest (a workspace build unifies features, which would hide a
# missing one). clippy, so that a warning in any one combination fails too; check mode, quick.
MIDDLEWARE_FEATURES := batch idempotency jmespath dynamodb secrets secretsmanager parameters ssm metrics http
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

# Rustdoc warnings (broken or private links, missing docs) fail, in every crate of the workspace.
docs:
	RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --workspace

# The two crates as crates.io would get them (target/package/*.crate): manifests, versions of
# the path dependencies, the files packaged. --no-verify: verification builds both from their
# .crate files in a configuration of their own, the AWS SDK included (11 min on 2 shared cores);
# the README snippet test builds them as a team's path dependencies instead, and `features`
# builds every feature combination.
package:
	cargo package --locked --allow-dirty --no-verify --package tern-runtime --package tern-middleware

# The SAM template as CloudFormation deploys it: packaged and transformed by the SAM translator
# (tools/samtemplate.py), so the checks see the roles, mappings and permissions SAM adds. cfn-lint
# (newest) on both forms, SAM's own validation, the project's rules (tools/check_template.py:
# least privilege per function, batch sources, encryption) and checkov, whose findings must match
# the accepted list in SECURITY.md (tools/run_checkov.py). checkov pins its own boto3, so it has
# its own virtualenv.
TRANSFORMED   := target/template/transformed.json
CHECKOV_VENV  := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# A tool pinned in a virtualenv of its own, installed on first use and again when its pins
# change: $(call pinned_venv,<virtualenv>,<name>,<what, for the message>) installs
# tools/<name>-requirements.txt under tools/<name>-constraints.txt, with the rule for
# <virtualenv>/.installed (use it through $(eval)).
define pinned_venv
$(1)/.installed: tools/$(2)-requirements.txt tools/$(2)-constraints.txt
	@echo "==> installing $(3) into $(1)"
	$$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --disable-pip-version-check -r tools/$(2)-requirements.txt -c tools/$(2)-constraints.txt
	touch $$@
endef
$(eval $(call pinned_venv,$(CHECKOV_VENV),checkov,pinned checkov))

template: venv $(CHECKOV_STAMP)
	$(VENV)/bin/python tools/samtemplate.py template.yaml --out $(TRANSFORMED)
	cfn-lint template.yaml $(TRANSFORMED)
	sam validate --lint --region us-east-1
	$(VENV)/bin/python tools/check_template.py $(TRANSFORMED)
	$(VENV)/bin/python tools/test_check_template.py
	$(VENV)/bin/python tools/run_checkov.py --checkov $(CHECKOV_VENV)/bin/checkov $(TRANSFORMED) Dockerfile
	$(VENV)/bin/python tools/test_run_checkov.py

# The application deployed locally (tools/deploy_local.py, tools/localdeploy/): the `sam build`
# output (the layer holds the bootstrap `make layer` zips) packaged into moto's S3, transformed,
# deployed into moto's CloudFormation and completed through the service APIs where moto falls
# short; then driven through its event sources by local pollers, as Lambda would, with the
# functions under the Runtime Interface Emulator and the FIFO function from the image `make
# image` built. deploy-test also runs the unit tests of tools/localdeploy and the buildspec's and
# README's `sam deploy` against moto up to the change set, and the buildspec's build phase twice
# on one commit (tools/check_pipeline.py).
LOCAL_IMAGE_URI := 123456789012.dkr.ecr.us-east-1.amazonaws.com/tern-bootstrap:local
deploy-local: venv sam-build image
	$(VENV)/bin/python tools/deploy_local.py --template target/sam-build/template.yaml \
		--parameter ImageUri=$(LOCAL_IMAGE_URI) --image $(LOCAL_IMAGE_URI)=$(IMAGE)

# The AWS CLI (v1, pinned) in a virtualenv of its own, as checkov has: check_pipeline.py runs the
# buildspec's build phase with it against moto, twice on one commit (the ECR steps for real;
# docker, make image and sam build stood in for), to prove a re-run succeeds without a push.
AWSCLI_VENV  ?= $(VENV)/awscli
AWSCLI_STAMP := $(AWSCLI_VENV)/.installed
$(eval $(call pinned_venv,$(AWSCLI_VENV),awscli,the pinned AWS CLI))

deploy-test: venv sam-build image $(AWSCLI_STAMP)
	$(VENV)/bin/python tools/test_localdeploy.py
	$(VENV)/bin/python tools/test_deploy_local.py
	$(VENV)/bin/python tools/check_pipeline.py --built target/sam-build --aws-cli $(AWSCLI_VENV)/bin/aws

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
	TERN_FUZZ_SECONDS=$(FUZZ_SECONDS) cargo test --package tern-functions --test functions fuzz:: -- --nocapture

# Emulator tests run against the release artifact, so panic handling is proven on what ships.
# No incremental state (over a GB): a fresh clone in CI would only write it, never read it.
# `CARGO_INCREMENTAL=1 make test` keeps it.
test: export CARGO_INCREMENTAL ?= 0
test: venv lint features docs package deny template build layer sam-build image deploy-test
	TERN_BOOTSTRAP=$(abspath $(LAMBDA_DIR)/bootstrap/bootstrap) TERN_LAYER_ZIP=$(abspath $(LAYER_ZIP)) cargo test --workspace --no-fail-fast

# Benchmarks (BENCHMARKS.md): the functions under test and the harness built with the release
# profile, Powertools and awslambdaric pinned into their own venv, then every run alternated.
BENCH_PYVENV := target/bench/pyvenv
BENCH_BIN_DIR := $(or $(CARGO_TARGET_DIR),target)/release
$(BENCH_PYVENV)/.installed: bench/python/requirements.txt
	$(PYTHON) -m venv $(BENCH_PYVENV)
	$(BENCH_PYVENV)/bin/pip install --quiet --disable-pip-version-check -r bench/python/requirements.txt
	touch $@
# The previous release, for the full stack's regression row: its tern-bench-full built from
# the commit's own tree and lock file, in a target directory of its own (built once per commit).
BENCH_PREVIOUS_REV := 8c4970c
BENCH_PREVIOUS_DIR := target/bench/previous
BENCH_PREVIOUS_FULL := $(BENCH_PREVIOUS_DIR)/target/release/tern-bench-full-$(BENCH_PREVIOUS_REV)
$(BENCH_PREVIOUS_FULL):
	rm -rf $(BENCH_PREVIOUS_DIR)/$(BENCH_PREVIOUS_REV)
	mkdir -p $(BENCH_PREVIOUS_DIR)/$(BENCH_PREVIOUS_REV)
	git archive $(BENCH_PREVIOUS_REV) | tar -x -C $(BENCH_PREVIOUS_DIR)/$(BENCH_PREVIOUS_REV)
	cd $(BENCH_PREVIOUS_DIR)/$(BENCH_PREVIOUS_REV) && cargo build --release --locked \
		--package tern-bench --bin tern-bench-full --target-dir $(abspath $(BENCH_PREVIOUS_DIR)/target)
	cp $(BENCH_PREVIOUS_DIR)/target/release/tern-bench-full $@
.PHONY: bench
bench: venv layer $(BENCH_PYVENV)/.installed $(BENCH_PREVIOUS_FULL)
	cargo build --release --locked --package tern-bench --package tern-bench-bare --bins
	$(BENCH_BIN_DIR)/tern-bench --bin-dir $(BENCH_BIN_DIR) --python $(BENCH_PYVENV)/bin/python \
		--bootstrap $(LAMBDA_DIR)/bootstrap/bootstrap --layer $(LAYER_ZIP) --image $(IMAGE) \
		--previous-full $(BENCH_PREVIOUS_FULL) --previous-rev $(BENCH_PREVIOUS_REV) \
		--out target/bench/results.md

# `make demo` invokes every handler directly through the emulator (testkit/src/bin/demo.rs).
# `make demo SOURCES=deployed` is the demo through the deployed event sources instead: the
# deploy-local flow, the sample events put on the queues, the stream, the topic and the bucket
# of the application deployed into moto, and what each event source delivered printed.
SOURCES ?= direct
ifeq ($(SOURCES),deployed)
demo: deploy-local
else ifeq ($(SOURCES),direct)
demo: venv build
	TERN_BOOTSTRAP=$(abspath $(LAMBDA_DIR)/bootstrap/bootstrap) cargo run --quiet --package tern-testkit --bin demo
else
demo:
	@echo "make demo: SOURCES=$(SOURCES) is neither direct (the default) nor deployed"; exit 2
endif

clean:
	cargo clean
	rm -rf $(VENV)
