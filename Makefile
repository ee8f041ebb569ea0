# Cortex Chat Playground. Two commands: `make dev` runs everything, `make test` tests everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := .tools
UV := $(TOOLS)/bin/uv
RUN := $(UV) run --frozen
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= python3
export PYTHONDONTWRITEBYTECODE := 1

WEB_SOURCES := $(shell find web/src web/index.html web/package.json web/vite.config.* web/tsconfig*.json -type f 2>/dev/null)

.PHONY: help setup dev test lint typecheck unit integration e2e fuzz bench status web browser schemas asyncapi clean logs-%
.PHONY: chaos soak bench-data
.PHONY: real-engine

help:
	@echo "make dev    - set up and run the whole stack (embedded NATS + PostgreSQL, simulator)"
	@echo "make test   - set up and run lint, type checks and every test"
	@echo "make bench  - run the benchmarks (results go to docs/benchmarks.md)"
	@echo "make bench-data - load the data of the reads-at-scale benchmark (.data/bench-reads)"
	@echo "make fuzz   - schemathesis against the whole API, long (see docs/reliability.md)"
	@echo "make chaos  - every fault scenario under load (docs/reliability.md; make test: short form)"
	@echo "make soak   - 200 streams + chat writes for 10 minutes, memory and fds sampled"
	@echo "make real-engine - the inspector against a real llama.cpp server (compiles it; minutes)"
	@echo "make status - readiness of every running service"
	@echo "make logs-gateway (or logs-sessions, logs-health, logs-usage, logs-simulator)"

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

.venv/.synced: $(UV) pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen --all-packages
	@touch $@

setup: .venv/.synced

web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web/dist/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html

dev: setup web
	$(RUN) cortex-devstack dev

status: setup
	@$(RUN) cortex-devstack status

logs-%: setup
	@$(RUN) cortex-devstack logs $*

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup
	$(RUN) mypy libs/*/src services/*/src deploy/validate

browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

test: setup web browser lint typecheck
	cd web && npm test
	$(RUN) pytest -p no:cacheprovider

unit: setup web/node_modules/.installed
	$(RUN) pytest -m unit

integration: setup
	$(RUN) pytest -m integration

e2e: setup web browser
	$(RUN) pytest -m e2e

# The API contract test with many examples per operation (`make test` runs it with a few).
FUZZ_EXAMPLES ?= 300
fuzz: setup
	CORTEX_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(RUN) pytest -p no:cacheprovider -q --timeout=1800 \
		tests/e2e/test_api_contract.py
	@cat test-artifacts/api-contract-cases.json

bench: setup web
	$(RUN) python -m bench

# The 1,000,000 chats / 10,000,000 messages of `python -m bench reads`, loaded ahead (minutes).
bench-data: setup
	$(RUN) python -m bench.bench_reads --load-only

# Every chaos scenario with longer load (`make test` runs one fault of each kind).
chaos: setup web
	CORTEX_CHAOS=full $(RUN) pytest -p no:cacheprovider -q --timeout=3600 tests/chaos
	@cat test-artifacts/chaos.md

# The inspector's flows against a real llama.cpp server (tiny random model); not in `make test`.
real-engine: setup
	$(RUN) python -m bench.real_engine

SOAK_SEC ?= 600
soak: setup web
	SOAK_SEC=$(SOAK_SEC) $(RUN) python -m bench soak

schemas: setup web/node_modules/.installed
	rm -rf docs/schemas
	$(RUN) cortex-contracts schemas docs/schemas
	$(RUN) cortex-runtime asyncapi docs/asyncapi.yaml
	$(RUN) cortex-gateway openapi docs/openapi.json
	cd web && npx openapi-typescript ../docs/openapi.json --output src/lib/api.gen.ts

clean:
	rm -rf .venv $(TOOLS) web/node_modules web/dist test-artifacts
