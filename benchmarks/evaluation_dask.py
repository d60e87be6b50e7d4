"""A tabular evaluation's metrics in one process against the same metrics on a local Dask cluster.

The evaluation's cost is bounded by its caps (``evaluation.sample_size`` samples against at most
``evaluation.max_reference_rows`` held-out rows), not by the anchor. A user who raises them (more samples, a
bigger reference for tighter metrics) makes the k-NN metrics and the sliced Wasserstein distance the heavy part;
from ``evaluation.dask_min_rows`` rows (samples + reference) those parts run as ``evaluation-part`` tasks on
Dask (tasks/cluster.py ``DaskMetrics``). This measures, for each size: the seconds of every part in this
process, the evaluation's metrics in this process, the same on a fresh local cluster of ``--workers`` workers
(cluster start included), and whether the two gave the same numbers. The anchor's tail region and modes are
built first and timed apart (a workspace builds them once per anchor version); the Evidently drift report,
which stays in the flow's process, is timed apart too.

    python benchmarks/evaluation_dask.py [--rows 1000000] [--sizes 4000:50000 50000:500000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from collapse_guard.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults(PREFECT_LOGGING_LEVEL="WARNING")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="anchor rows (the default 2-D data)")
    parser.add_argument("--sizes", nargs="+", default=["4000:50000", "50000:500000"], help="samples:reference")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from collapse_guard.modality.base import EVALUATION_DECODING, run_here
    from collapse_guard.modality.registry import load_params
    from collapse_guard.pipeline import step
    from collapse_guard.records.anchor import split
    from collapse_guard.records.provenance import feature_columns, numeric_columns, stamp_real
    from collapse_guard.tabular import evaluation
    from collapse_guard.tabular.default_data import sample_default
    from collapse_guard.tabular.modality import TabularModality
    from collapse_guard.tasks.cluster import DaskMetrics

    params = load_params(REPO / "params.yaml")
    rng = np.random.default_rng(params.run.seed)
    frame = stamp_real(sample_default(args.rows, params.tabular.embedded.rare_weight, rng), origin="benchmark")
    train, held_out = split(frame, params.data.holdout_fraction)
    model = step.train(params.model, train.iloc[:50_000], generation=0, seeds=step.SeedSchedule(params.run.seed))
    features, numeric = feature_columns(train), numeric_columns(train)
    print(f"anchor {args.rows:,} rows; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    current: dict = {}  # the size being measured: a flow's parameters are sent to the API, so none are passed

    @flow(name="evaluation-on-dask")
    def on_dask():
        return evaluation.evaluate(model, **current, seed=1, runner=DaskMetrics(args.workers, 0))

    rows_out = []
    with prefect_test_harness(server_startup_timeout=120), tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            samples_n, reference_n = (int(x) for x in size.split(":"))
            settings = params.evaluation.model_copy(
                update={"sample_size": samples_n, "max_reference_rows": reference_n}
            )
            sized = params.model_copy(update={"evaluation": settings})
            reference_train = evaluation.reference_rows(train[features], reference_n)
            reference_held_out = evaluation.reference_rows(held_out[features], reference_n)
            start = time.perf_counter()
            region = evaluation.anchor_tail(reference_train[numeric], settings)
            modes = evaluation.anchor_modes(reference_train[numeric])
            anchor_side = time.perf_counter() - start

            samples = model.sample(samples_n, EVALUATION_DECODING, 1)
            jobs = evaluation.metric_jobs(
                model, samples, reference_train, reference_held_out, settings, 1, region, modes
            )
            parts = {}
            for name, job in jobs.items():
                start = time.perf_counter()
                job()
                parts[name] = time.perf_counter() - start

            start = time.perf_counter()
            here, _ = evaluation.evaluate(
                model, reference_train, reference_held_out, settings, 1, region, modes, run_here
            )
            here_seconds = time.perf_counter() - start
            start = time.perf_counter()
            current.update(
                anchor_train=reference_train,
                held_out=reference_held_out,
                settings=settings,
                region=region,
                modes=modes,
            )
            there, _ = on_dask()
            dask_seconds = time.perf_counter() - start
            differ = max(
                abs(here.metrics[k] - there.metrics[k]) / max(abs(here.metrics[k]), 1e-12) for k in here.metrics
            )
            start = time.perf_counter()
            TabularModality(sized).drift(samples, train[features], Path(scratch) / "drift.html")
            drift_seconds = time.perf_counter() - start
            rows_out.append((samples_n, reference_n, anchor_side, here_seconds, dask_seconds, drift_seconds, differ))
            slowest = ", ".join(f"{n} {s:.1f}" for n, s in sorted(parts.items(), key=lambda p: -p[1])[:4])
            print(f"  {samples_n:,} samples vs {reference_n:,} rows: parts in seconds, slowest first: {slowest}")

    print(
        f"\n{'samples':>9} {'reference':>10} {'anchor side s':>14} {'one process s':>14}"
        f" {f'{args.workers} workers s':>12} {'drift s':>8} {'max rel. diff':>14}"
    )
    for samples_n, reference_n, anchor_side, here_s, dask_s, drift_s, differ in rows_out:
        print(
            f"{samples_n:>9,} {reference_n:>10,} {anchor_side:>14.1f} {here_s:>14.1f} {dask_s:>12.1f}"
            f" {drift_s:>8.1f} {differ:>14.1e}"
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
