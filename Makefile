# `make run` and `make test` each set up what they need: Debian packages when run as root and
# missing, then a virtual environment in .venv with the package installed editable.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_RUN :=
APT_TEST := lirc supervisor git chromium
STAMP := $(VENV)/.installed

.PHONY: run test check lint setup-test clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: $(STAMP)
	@scripts/apt-install $(APT_RUN)
	$(VENV)/bin/appliance stack up

setup-test: $(STAMP)
	@scripts/apt-install $(APT_TEST)

lint: $(STAMP)
	$(VENV)/bin/ruff check appliance tests bench
	$(VENV)/bin/ruff format --check appliance tests bench

# The whole suite: real daemons, a real browser.
test: setup-test lint
	$(VENV)/bin/pytest -q

# The fast loop: no daemons, no browser.
check: $(STAMP)
	$(VENV)/bin/pytest -q -m 'not slow'

clean:
	rm -rf $(VENV) .pytest_cache
