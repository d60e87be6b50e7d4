# Two commands on a fresh machine: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The machines have no internet: no telemetry, and Prefect's analytics off.
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GX_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test lint bench repro mlflow-ui clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: setup  ## initialise the workspace and run three guarded generations on the embedded default
	$(BIN)/collapse-guard init
	$(BIN)/collapse-guard run --generations 3
	$(BIN)/collapse-guard audit verify

test: setup  ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check collapse_guard tasks flows

bench: setup  ## overhead of one guarded generation against bare training and sampling
	$(BIN)/python benchmarks/guard_overhead.py

repro: setup  ## one more guarded generation through DVC's pipeline (dvc.yaml)
	$(BIN)/collapse-guard init
	$(BIN)/dvc repro

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --default-artifact-root mlartifacts

clean:  ## remove what `make demo` made (not the venv)
	rm -rf mlflow.db mlartifacts reports ledger generations .dvc-remote data/anchor/real.parquet* data/anchor/.gitignore
