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

.PHONY: setup demo demo-text experiment-text test lint bench bench-metrics bench-text bench-scale bench-watermark repro mlflow-ui clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: setup  ## initialise the workspace and run three guarded generations on the embedded default
	$(BIN)/collapse-guard init
	$(BIN)/collapse-guard run --generations 3
	$(BIN)/collapse-guard audit verify

demo-text: setup  ## the same on text: the Python manual's prose, a GRU language model, watermark and dedup
	$(BIN)/collapse-guard init --params params-text.yaml
	$(BIN)/collapse-guard run --generations 3 --params params-text.yaml
	$(BIN)/collapse-guard audit verify --params params-text.yaml

experiment-text: setup  ## replace vs accumulate on text: the rare words go first (about 10 minutes)
	$(BIN)/collapse-guard experiment --params params-text.yaml

test: setup  ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check collapse_guard tasks flows

bench: setup  ## overhead of one guarded generation against bare training and sampling
	$(BIN)/python benchmarks/guard_overhead.py

bench-metrics: setup  ## how each collapse metric's cost grows with the anchor (1x, 10x, 100x the default)
	$(BIN)/python benchmarks/metric_scaling.py

bench-text: setup  ## watermark quality and detection speed; near-duplicate throughput
	$(BIN)/python benchmarks/text_watermark.py
	$(BIN)/python benchmarks/text_dedup.py

bench-scale: setup  ## near-duplicate screening at 100k and 1M documents against datasketch's bulk path (about 30 minutes)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/scale_screening.py --sizes 100000 1000000

bench-watermark: setup  ## watermark TPR by length x attack x scheme, FPR on unseen docstrings, speed (4-10 minutes)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/watermark_robustness.py --samples 400 --epochs 6 --real-tokens 2000000 --fpr-keys 10

repro: setup  ## one more guarded generation through DVC's pipeline (dvc.yaml)
	$(BIN)/collapse-guard init
	$(BIN)/dvc repro

# A persistent local Prefect server (its UI at http://127.0.0.1:4200 lists every scheduled and past run), then
# `make serve` in another terminal: the guarded retraining flow served on params.yaml's `schedule:`.
.PHONY: server serve
PREFECT_HOME ?= $(CURDIR)/.prefect
server: setup  ## a persistent Prefect server on 127.0.0.1:4200 (state in .prefect/)
	PREFECT_HOME=$(PREFECT_HOME) $(BIN)/prefect server start --host 127.0.0.1 --port 4200

serve: setup  ## serve the schedule in params.yaml as a Prefect deployment (needs `make server` running)
	$(BIN)/collapse-guard init
	PREFECT_API_URL=http://127.0.0.1:4200/api $(BIN)/collapse-guard serve

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --default-artifact-root mlartifacts

clean:  ## remove what `make demo` made (not the venv)
	rm -rf mlflow.db mlartifacts reports reports-text ledger generations generations-text .dvc-remote \
		data/anchor/real.parquet* data/anchor/text.parquet* data/anchor/.gitignore data/quarantine
