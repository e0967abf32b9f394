# Lạng Sơn digital twin. Two commands on a fresh machine:
#   make run    install everything, fetch the data, serve the twin at http://127.0.0.1:8000
#   make test   install everything, run the whole suite
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
UV := $(shell command -v uv 2>/dev/null || echo .venv-tools/bin/uv)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup system python viewer data run run-cluster test lint bench reliability lock clean

help:
	@echo "make run     - set up, fetch data and serve the twin at http://127.0.0.1:8000"
	@echo "make run-cluster - 2 instances on one PostgreSQL behind HAProxy (ARGS=\"--instances 3\")"
	@echo "make test    - set up and run the whole test suite (lint included)"
	@echo "make bench   - run the benchmarks against the peers and print the table"
	@echo "make reliability - load, crash and fault harness on SQLite and PostgreSQL"
	@echo "make lint    - ruff, mypy --strict, import layering"
	@echo "make lock    - re-resolve requirements.lock from pyproject.toml"

setup: system python viewer

system:
	@bash scripts/setup-system.sh

.venv-tools/bin/uv:
	python3 -m venv .venv-tools && .venv-tools/bin/pip install -q uv

.venv/.stamp: pyproject.toml requirements.lock | $(UV)
	test -x $(PY) || $(UV) venv -q --python 3.11 .venv
	$(UV) pip sync -q --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch $@

python: .venv/.stamp

viewer: python
	@if [ -f viewer/package.json ]; then $(MAKE) -s viewer/dist/.stamp; fi

viewer/dist/.stamp: viewer/package.json viewer/package-lock.json $(shell find viewer/src viewer/build.mjs -type f 2>/dev/null)
	cd viewer && npm ci --no-audit --no-fund --loglevel=error && npm run -s build
	touch $@

data: python
	.venv/bin/twin data fetch

run: setup data
	.venv/bin/twin serve

run-cluster: setup data
	$(PY) scripts/run_cluster.py $(ARGS)

lint: python
	.venv/bin/ruff check twin gis_data simulations api tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports

test: setup data
	$(MAKE) -s lint
	.venv/bin/pytest -q

bench: setup data
	$(PY) -m bench.run_all
	$(PY) -m bench.harness

reliability: setup data
	flock /tmp/twin-heavy.lock $(PY) -m bench.reliability $(ARGS)

lock: | $(UV)
	$(UV) pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(UV) pip sync -q --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch .venv/.stamp

clean:
	rm -rf .venv .venv-tools viewer/node_modules viewer/dist .pytest_cache .mypy_cache .ruff_cache
