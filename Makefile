# One Makefile for people and CI. `make serve` runs the server on the embedded
# SQLite store; `make test` runs every test on SQLite and PostgreSQL, then the
# sample application's (examples/signup) against the emulator.

VENV ?= .venv
PY := $(VENV)/bin/python
NODE_TESTS := tests/api/node

.PHONY: setup serve test lint bench clean

setup: $(VENV)/.installed $(NODE_TESTS)/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	# customerio-cdp-analytics ships an empty customerio/__init__.py that overwrites
	# the Track client's (both packages install the `customerio` module, and the
	# last one installed wins): reinstall customerio so its __init__.py is the one kept.
	$(VENV)/bin/pip install --quiet --force-reinstall --no-deps customerio==3.2.0
	touch $@

$(NODE_TESTS)/node_modules/.installed: $(NODE_TESTS)/package.json $(NODE_TESTS)/package-lock.json
	cd $(NODE_TESTS) && npm ci --silent --no-audit --no-fund
	touch $@

serve: $(VENV)/.installed
	$(VENV)/bin/tidings serve

# The sample application has its own pytest configuration (examples/signup/pyproject.toml).
# Bytecode written once (PYTHONDONTWRITEBYTECODE may be set): every server a test
# starts would otherwise compile the package's modules again.
test: setup
	$(PY) -m compileall -q src examples > /dev/null
	$(PY) -m pytest -q $(PYTEST_ARGS)
	$(PY) -m pytest -q examples/signup

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports --no-cache

bench: $(VENV)/.installed
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(NODE_TESTS)/node_modules tidings-data
