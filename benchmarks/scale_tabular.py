"""One guarded tabular generation at 100k and 1M anchor rows, with the time of each step.

The real Prefect flow runs in a throwaway workspace whose embedded default anchor is enlarged
(``tabular.embedded.rows``): generation 0 (the model trained on real data only) first, then the
generation that is timed: generate + curate, mix, GX gate, train, evaluate (collapse metrics +
Evidently), sign, DVC version, ledger/MLflow record. The step times are the flow's own task runs, read
back from Prefect's API, so nothing is re-implemented here. Target (issue 13): ≤ 2 min at 1M rows.

Generation 2 runs in the process that ran generations 0-1, as the later generations of
``collapse-guard run --generations N`` do: the anchor rows whose ids were checked against their payload and
the anchor's tail regions are remembered (each keyed by the exact bytes, see records/provenance.py and
tabular/metrics/tails.py). Generation 3 is timed after forgetting both, as a new process (a scheduled run)
would see them; only Python's imports stay warm.

    python benchmarks/scale_tabular.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from collapse_guard.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults(PREFECT_LOGGING_LEVEL="WARNING")


def make_workspace(root: Path, rows: int) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["paths"]["expectations_dir"] = str(REPO / "expectations")
    params.setdefault("tabular", {}).setdefault("embedded", {})["rows"] = rows
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root / "params.yaml"


def task_seconds(flow_run_name: str) -> dict[str, float]:
    """Seconds per task name in the latest flow run called ``flow_run_name``, as Prefect recorded them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterName

    time.sleep(3)  # task-run states reach the API as events, a moment after the flow returns
    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[flow_run_name])))
        latest = max(flow_runs, key=lambda run: run.start_time or run.created)
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[latest.id])), limit=200)
    seconds: dict[str, float] = defaultdict(float)
    for run in runs:
        if run.start_time and run.end_time:
            seconds[run.name.rsplit("-", 1)[0]] += (run.end_time - run.start_time).total_seconds()
    return dict(seconds)


def forget_remembered() -> None:
    """What a new process would not know: the verified anchor rows and the tail regions."""
    from collapse_guard.records import provenance
    from collapse_guard.tabular.metrics import tails

    provenance._verified.clear()
    tails._regions.clear()


def one_size(rows: int) -> tuple[float, float, dict[str, float], float, dict[str, float]]:
    """(setup seconds, timed generation seconds, seconds per task, and the same two for a generation timed
    after ``forget_remembered``) for an anchor of ``rows`` rows."""
    from collapse_guard.flows.guarded_retraining import guarded_retraining
    from collapse_guard.modality.registry import load_params
    from collapse_guard.pipeline.setup import initialise

    root = Path(tempfile.mkdtemp(prefix=f"cg-scale-{rows}-"))
    try:
        params = load_params(make_workspace(root, rows))
        start = time.perf_counter()
        initialise(params)
        guarded_retraining(params, 1)  # generation 0 (real only) then generation 1; we time generation 1 alone
        setup = time.perf_counter() - start
        start = time.perf_counter()
        guarded_retraining(params, 1)  # generation 2: a generation of a running workspace
        timed = time.perf_counter() - start
        steps = task_seconds("generation-2")
        forget_remembered()
        start = time.perf_counter()
        guarded_retraining(params, 1)  # generation 3: the same, with nothing remembered of the anchor
        cold = time.perf_counter() - start
        return setup, timed, steps, cold, task_seconds("generation-3")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="anchor sizes")
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    results = {}
    with prefect_test_harness(server_startup_timeout=120):
        for rows in args.rows:
            results[rows] = one_size(rows)
            setup, timed, _, cold, _ = results[rows]
            print(
                f"anchor {rows:>9,} rows: init + generations 0-1 {setup:7.1f} s; one guarded generation {timed:6.1f} s"
                f" ({cold:.1f} s with nothing remembered of the anchor)"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    names = sorted(
        {name for result in results.values() for name in result[2]}, key=lambda n: -results[args.rows[-1]][2].get(n, 0)
    )
    print(f"\nseconds per task of one guarded generation (Prefect task runs); peak RSS {peak:.1f} GB")
    print("(generation 2 in the running process; generation 3 with nothing remembered of the anchor)")
    print(f"{'task':<28}" + "".join(f"{f'{rows:,} g2':>14}{'g3':>8}" for rows in args.rows))
    for name in names:
        print(
            f"{name:<28}"
            + "".join(
                f"{results[rows][2].get(name, 0.0):14.1f}{results[rows][4].get(name, 0.0):8.1f}" for rows in args.rows
            )
        )
    print(
        f"{'whole generation (wall)':<28}"
        + "".join(f"{results[rows][1]:14.1f}{results[rows][3]:8.1f}" for rows in args.rows)
    )


if __name__ == "__main__":
    main()
