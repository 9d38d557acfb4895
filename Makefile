# The two commands a newcomer runs: `make demo` and `make test`. Both install their pinned
# prerequisites into .venv when missing and start/stop their own servers.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      ?= .venv
PYTHON    ?= python3
REQS      := tools/requirements.txt tools/constraints.txt
STAMP     := $(VENV)/.installed
BOOTSTRAP := target/lambda/bootstrap/bootstrap

export PATH := $(abspath $(VENV))/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export CARGO_TERM_COLOR ?= never

.PHONY: help venv build layer sam-build lint template test demo clean

help:
	@echo "make demo   build the bootstrap and invoke every handler through the Lambda emulator"
	@echo "make test   lint, build the release bootstrap, run the whole test suite"
	@echo "make venv   install the pinned tools (cargo-lambda, zig, aws-sam-cli, moto, cfn-lint) into $(VENV)"

venv: $(STAMP)

$(STAMP): $(REQS)
	@echo "==> installing pinned tools into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt -c tools/constraints.txt
	touch $@

# The artifact users deploy: `cargo lambda build --release` (x86_64, zig-linked, glibc).
build: venv
	cargo lambda build --release --package tern-functions --bin bootstrap
	@ls -l $(BOOTSTRAP)

# The shared layer: bootstrap at the zip root with mode 0755, so Lambda finds /opt/bootstrap.
LAYER_ZIP := target/layer/tern-bootstrap-x86_64.zip
layer: build
	rm -rf target/layer/stage && mkdir -p target/layer/stage
	install -m 0755 $(BOOTSTRAP) target/layer/stage/bootstrap
	rm -f $(LAYER_ZIP) && cd target/layer/stage && zip -q -X ../$(notdir $(LAYER_ZIP)) bootstrap
	@# grep reads the whole listing (no -q): an early exit would SIGPIPE unzip under pipefail.
	@unzip -Z $(LAYER_ZIP) | grep -- '-rwxr-xr-x.*bootstrap' >/dev/null || { echo "bootstrap is not executable in $(LAYER_ZIP)"; exit 1; }
	@ls -l $(LAYER_ZIP)

# sam build, offline: the layer through layer/Makefile (BuildMethod: makefile), built in source.
sam-build: venv build
	sam build --build-in-source --template template.yaml --build-dir target/sam-build BootstrapLayer
	test -x target/sam-build/BootstrapLayer/bootstrap

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# The SAM template: cfn-lint 1.53.x (checks inside SAM resources), SAM's own validation, and
# the project's rules (ReportBatchItemFailures on batch sources, no writes on Resource "*").
template: venv
	cfn-lint template.yaml
	sam validate --lint --region us-east-1
	$(VENV)/bin/python tools/check_template.py template.yaml

# Emulator tests run against the release artifact, so panic handling is proven on what ships.
test: venv lint template build layer sam-build
	TERN_BOOTSTRAP=$(abspath $(BOOTSTRAP)) TERN_LAYER_ZIP=$(abspath $(LAYER_ZIP)) cargo test --workspace --no-fail-fast

demo: venv build
	TERN_BOOTSTRAP=$(abspath $(BOOTSTRAP)) cargo run --quiet --package tern-testkit --bin demo

clean:
	cargo clean
	rm -rf $(VENV)
