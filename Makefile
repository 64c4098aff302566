# Two commands do all set-up on a fresh machine (Python 3.11+ and git):
#   make run   install, create the demo app and data, serve on http://127.0.0.1:8080
#   make test  install with dev extras, lint, type-check, run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test test-citus install install-dev lint typecheck pytest bench bench-10m bench-peers \
	load fuzz crash format clean screenshots bench-console

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "cdrstore needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	@$(BIN)/cdrstore serve --check --host $(HOST) --port $(PORT)
	$(BIN)/cdrstore db upgrade
	$(BIN)/cdrstore demo --base-url http://$(HOST):$(PORT)
	@echo 'the CLI:  $(BIN)/cdrstore --help   (or put it on the PATH: . $(BIN)/activate)'
	$(BIN)/cdrstore serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/pytest -q -n 2

test: lint typecheck pytest

# Every PostgreSQL test against a Citus coordinator (docs/scale-out.md): CDRSTORE_CITUS_URL names a
# database of the tests' own on it, which they empty and distribute; skipped, with the reason, unset.
test-citus: install-dev
	$(BIN)/pytest -q -n 0 --citus

format: install-dev
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

bench: install-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

# The console's server time for the calls page and the dashboard on a large store; e.g.
# make bench-console CONSOLE_BENCH_ARGS='--records 1000000'
bench-console: install-dev
	$(BIN)/python -m bench.console $(CONSOLE_BENCH_ARGS)

# The console's pictures in docs/images (docs/console.md, README), taken by its browser tests.
screenshots: install-dev
	CDRSTORE_SCREENSHOTS=docs/images $(BIN)/pytest -q -p no:xdist tests/browser/test_console_browser.py

# sqlite-utils and Datasette, the peers bench.ingest and bench.reads measure against, in an
# environment of their own (not cdrstore dependencies).
bench-peers:
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install --quiet 'sqlite-utils>=3.36' 'datasette>=0.64'

# 1,000,000 beside 10,000,000 records on each backend (docs/performance.md#ten-times-the-data).
# Builds its stores under bench/data part by part, for hours on a small machine; stopped, it
# resumes at the part it was in. SCALE_ARGS='--base 200000' for a quicker 200,000 vs 2,000,000.
bench-10m: install-dev
	$(BIN)/python -m bench.scale $(SCALE_ARGS)

# Mixed read/write load on a live server for 60 s, then stored == acknowledged; e.g.
# make load LOAD_ARGS='--seconds 10 --db postgresql://postgres@127.0.0.1:5432/cdrstore_load'
load: install-dev
	$(BIN)/python -m bench.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

fuzz: install-dev
	CDRSTORE_FUZZ_EXAMPLES=1000 $(BIN)/pytest -q tests/api/test_fuzz.py

# The crash test with 25 SIGKILLs a backend instead of make test's 4.
crash: install-dev
	CDRSTORE_CRASH_KILLS=25 $(BIN)/pytest -q tests/test_crash.py
