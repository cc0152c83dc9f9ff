# Two entry points (see README): `make nightly` and `make test`.
SHELL := /bin/bash
export AUDIT_DATA_DIR ?= $(abspath ../shared/data)
export NLTK_DATA ?= $(AUDIT_DATA_DIR)/nltk_data
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup nightly test lint check-lock lock

$(VENV)/.installed: pyproject.toml requirements/lock.txt scripts/setup.sh scripts/check_lock.py
	bash scripts/setup.sh $(VENV)
	touch $@

setup: $(VENV)/.installed

nightly: setup
	$(VENV)/bin/audit run --config configs/nightly.yaml

# The README's test command: lock check, lint, types, then the test suite.
test: setup check-lock lint
	$(PY) -m pytest -q -p no:cacheprovider

check-lock: setup
	$(PY) scripts/check_lock.py --lock requirements/lock.txt

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy audit

# Regenerate requirements/lock.txt after editing pyproject.toml's dependencies (fresh temporary venv).
lock:
	bash scripts/lock.sh
