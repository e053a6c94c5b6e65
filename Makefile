# palaryn-proxy — `make run` starts the proxy, `make test` runs the whole suite; both set everything up.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(shell scripts/find-python.sh)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: help install run test test-fast lint format bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { scripts/find-python.sh; exit 1; }
	@echo "using $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv with a Python >= 3.12 and install the proxy and test tools

run: $(STAMP) ## Run the proxy (uses ./palaryn.yaml if present; extra flags: make run ARGS="--listen 0.0.0.0:8080")
	$(BIN)/palaryn-proxy run $(ARGS)

test: $(STAMP) ## Run every test (unit, storage against real redis-server, end-to-end through the proxy)
	$(BIN)/pytest -q $(ARGS)

lint: $(STAMP) ## ruff check, ruff format check and mypy (scripts/typecheck.sh)
	$(BIN)/ruff check palaryn_proxy addons tests
	$(BIN)/ruff format --check palaryn_proxy addons tests
	VENV=$(VENV) scripts/typecheck.sh

format: $(STAMP) ## Apply ruff format and safe fixes
	$(BIN)/ruff check --fix palaryn_proxy addons tests
	$(BIN)/ruff format palaryn_proxy addons tests

bench: $(STAMP) ## Direct vs bare mitmdump vs palaryn-proxy, one table in bench/results/ (ARGS="--quick", "--profile")
	$(BIN)/python bench/run.py $(ARGS)

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
