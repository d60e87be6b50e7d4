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
export NO_MKDOCS_2_WARNING := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo demo-text experiment-text test lint bench bench-metrics bench-text bench-scale bench-watermark bench-forecast bench-transformer repro mlflow-ui docs docs-build clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: setup  ## initialise the workspace and run three guarded generations on the embedded default
	$(BIN)/collapse-guard init
	$(BIN)/collapse-guard run --generations 3
	$(BIN)/collapse-guard audit verify
	$(BIN)/collapse-guard audit report

# the text workspace: its own folder (and DVC project)
TEXT_PARAMS := examples/text/params.yaml
demo-text: setup  ## the same on text: the Python manual's prose, a GRU language model, watermark and dedup
	$(BIN)/collapse-guard init --params $(TEXT_PARAMS)
	$(BIN)/collapse-guard run --generations 3 --params $(TEXT_PARAMS)
	$(BIN)/collapse-guard audit verify --params $(TEXT_PARAMS)
	$(BIN)/collapse-guard audit report --params $(TEXT_PARAMS)

experiment-text: setup  ## replace vs accumulate on text: the rare words go first (about 10 minutes)
	$(BIN)/collapse-guard experiment --params $(TEXT_PARAMS)

SCREEN_SIZES ?= 100000 1000000

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file per worker at a time: each worker has its
# own Prefect test server and tmp workspaces. 2 = the CI machine's cores; TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: setup browser  ## lint, then the whole test suite (and its 20 slowest tests)
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=20

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check collapse_guard tasks flows

bench: setup  ## overhead of one guarded generation against bare training and sampling; cold commands' timelines
	$(BIN)/python benchmarks/guard_overhead.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/cold_run.py

bench-metrics: setup  ## how each collapse metric's cost grows with the anchor (1x, 10x, 100x the default)
	$(BIN)/python benchmarks/metric_scaling.py

bench-text: setup  ## watermark quality and detection speed; tokenising speed; near-duplicate throughput
	$(BIN)/python benchmarks/text_watermark.py
	$(BIN)/python benchmarks/text_tokenize.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/text_dedup.py

bench-scale: setup  ## at scale: screening 100k documents against datasketch's bulk path per core; the screen-crawl flow on 1 and 2 Dask workers at 100k and 1M (SCREEN_SIZES="100000 1000000 10000000" for 10M); one guarded tabular generation at 100k and 1M anchor rows; ingest of 1,000 rows onto a 1M-row anchor (about an hour)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/scale_screening.py --sizes 100000 --engines collapse-guard-stream datasketch
	$(BIN)/python benchmarks/scale_screening.py --workers 1 2 --sizes $(SCREEN_SIZES)
	$(BIN)/python benchmarks/scale_tabular.py
	$(BIN)/python benchmarks/anchor_append.py --rows 1000000 --new 1000

bench-watermark: setup  ## watermark TPR by length x attack x scheme, FPR on unseen docstrings, speed (4-10 minutes)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/watermark_robustness.py --samples 400 --epochs 6 --real-tokens 2000000 --fpr-keys 10

FORECAST_CHAINS := reports/forecast_chains.csv
bench-forecast: setup  ## the collapse forecast against 40 replace and 40 accumulate chains (docs/benchmarks/forecast-validation.md): hit rate, false alarms (30-60 minutes)
	$(BIN)/python benchmarks/forecast_validation.py --seeds 40 --first-seed 20 --generations 20 --rows 2000 --per-generation 500 --sample-size 2000 --chains $(FORECAST_CHAINS) --metric tail_coverage
	$(BIN)/python benchmarks/forecast_validation.py --chains $(FORECAST_CHAINS) --metric rare_mode_retention

bench-transformer: setup  ## a small GPT-2 retrained on its own text, 0 % / 10 % real kept (Shumailov et al.) and accumulate: perplexity and text metrics by generation (docs/benchmarks/transformer-collapse.md; about 45 minutes of CPU, two worker processes)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/transformer_collapse.py --generations 8 --seeds 3 --workers 2

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

# The audit page's browser test (tests/reports/test_audit_page_browser.py) opens it in headless Chromium from
# the OS packages (Debian's `chromium`); CI runs as root on a clean machine.
.PHONY: browser audit-page
browser:  ## headless Chromium for the audit page's browser test
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium) \
		|| echo "chromium could not be installed (not root?): the audit page's browser test will skip"

audit-page: setup  ## write the audit page and serve reports/ at http://127.0.0.1:8000/audit.html (for a team)
	$(BIN)/collapse-guard audit report
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory reports 8000

mlflow-ui: setup  ## the MLflow UI of the default workspace at http://127.0.0.1:5000 (one worker: answers in seconds on 2 cores)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --default-artifact-root mlartifacts --workers 1 --host 127.0.0.1 --port 5000

# The documentation site (mkdocs.yml, docs/): served with live reload, or built strictly into site/ (a broken link,
# a missing page or anchor fails the build).
docs: setup  ## serve the docs site at http://127.0.0.1:8001
	$(BIN)/mkdocs serve -a 127.0.0.1:8001

docs-build: setup  ## build the docs site into site/, strictly
	$(BIN)/mkdocs build --strict

clean:  ## remove what `make demo` and `make demo-text` made (not the venv)
	rm -rf mlflow.db mlartifacts reports ledger generations .dvc-remote \
		data/anchor/real.parquet* data/anchor/.gitignore data/quarantine
	cd examples/text && rm -rf .dvc .dvcignore mlflow.db mlartifacts reports-text ledger generations-text .dvc-remote \
		data .collapse-guard .gitignore
