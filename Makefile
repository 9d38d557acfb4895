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

.PHONY: help venv build lint test demo clean

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

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# Emulator tests run against the release artifact, so panic handling is proven on what ships.
test: venv lint build
	TERN_BOOTSTRAP=$(abspath $(BOOTSTRAP)) cargo test --workspace --no-fail-fast

demo: venv build
	TERN_BOOTSTRAP=$(abspath $(BOOTSTRAP)) cargo run --quiet --package tern-testkit --bin demo

clean:
	cargo clean
	rm -rf $(VENV)
