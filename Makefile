# Set-up is automatic: every target that runs the project creates .venv and installs it when missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help repro demo test lint ui clean-demo

help:
	@echo "make repro  - dvc repro of the full pipeline (profile: full, real datasets, paper recipes)"
	@echo "make demo   - the whole pipeline in the smoke profile, offline, in a copy (.demo/); tables in paper_tables/smoke/"
	@echo "make test   - lint + test suite (what CI runs)"
	@echo "make lint   - ruff check and format check of pipeline/, tests/, benchmarks/; import contracts"
	@echo "make ui     - MLflow UI on this project's tracking store"
	@echo "make clean-demo - remove the demo copy (.demo/) and its tables (paper_tables/smoke/)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

repro: $(STAMP)
	$(BIN)/dvc repro

demo: $(STAMP)
	$(BIN)/python -m pipeline.dev.demo

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q

ui: $(STAMP)
	$(BIN)/repro ui

clean-demo:
	rm -rf .demo paper_tables/smoke
