# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Each creates .venv and builds the native module (release) when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.skms-built
RUST_SOURCES := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock

.PHONY: all run test bench lint fmt clean openapi

all: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.deps-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(d['project']['dependencies'] + d['project']['optional-dependencies']['dev']))" > $(VENV)/requirements.txt
	$(BIN)/python -m pip install --quiet -r $(VENV)/requirements.txt
	touch $@

$(STAMP): $(VENV)/.deps-installed $(RUST_SOURCES)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --quiet
	touch $@

run: $(STAMP)
	$(BIN)/skms serve --dev --data-dir ./.skms-dev --listen 127.0.0.1:8470

test: $(STAMP)
	cargo test --release --workspace --quiet
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	mkdir -p .benchmarks
	$(BIN)/python -m pytest benches --benchmark-only --benchmark-group-by=group --benchmark-columns=min,median,ops,rounds -p no:randomly --benchmark-json=.benchmarks/latest.json
	$(BIN)/python benches/ratios.py .benchmarks/latest.json
	$(MAKE) bench-server

# Server level: real server processes on loopback driven by wrk; writes benches/RESULTS.md.
# Then HSM sign over HTTP against software keys and a bare python-pkcs11 loop (issue 14), on a
# fresh SoftHSM2 token: a section of its own in benches/RESULTS.md.
bench-server: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	command -v softhsm2-util >/dev/null || (apt-get update -qq && apt-get install -y -qq softhsm2)
	$(BIN)/python -m benches.server.run
	$(BIN)/python -m benches.server.hsm

lint: $(STAMP)
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest skms._native --allowlist tests/stubtest_allowlist.txt
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# The OpenAPI document generated from the app (tests/test_api_openapi.py compares them).
openapi: $(STAMP)
	$(BIN)/python -m skms.api.openapi > api/openapi.json

fmt: $(STAMP)
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches
	cargo fmt --all

clean:
	rm -rf $(VENV) target python/skms/*.so
