# Two entry points (see README): `make nightly` and `make test`.
SHELL := /bin/bash
export AUDIT_DATA_DIR ?= $(abspath ../shared/data)
export NLTK_DATA ?= $(AUDIT_DATA_DIR)/nltk_data
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup nightly test test-browser bench

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

setup: $(VENV)/.installed

nightly: setup
	$(VENV)/bin/audit run --config configs/nightly.yaml

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

bench: setup
	$(PY) benchmarks/run_all.py
