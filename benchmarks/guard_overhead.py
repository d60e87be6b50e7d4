"""What the guard costs: one guarded generation vs the same training and sampling, bare.

Guarded: the real Prefect flow (generate, curate, mix, GX gate, train, Evidently + metrics, MLflow,
DVC, ledger). Bare: sample from the previous model, concatenate, fit, sample for evaluation; nothing
else. Both run on the embedded default at the sizes in params.yaml, in a throwaway workspace.
Then each guard component is timed alone on the same data, to show where the overhead goes.

    python benchmarks/guard_overhead.py [--generations 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from collapse_guard.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults(PREFECT_LOGGING_LEVEL="WARNING")


def make_workspace(root: Path) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["paths"]["expectations_dir"] = str(REPO / "expectations")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root / "params.yaml"


def timed(fn, repeat: int = 1) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generations", type=int, default=3, help="generations timed on each side")
    args = parser.parse_args()

    import pandas as pd
    from prefect.testing.utilities import prefect_test_harness

    from collapse_guard.flows.guarded_retraining import guarded_retraining
    from collapse_guard.generator import build_generator, load_generator
    from collapse_guard.modality.registry import load_params, modality_for
    from collapse_guard.pipeline import gate, promotion, served_model, trust
    from collapse_guard.pipeline.setup import initialise
    from collapse_guard.records import anchor, attestation, ledger, tracking, versioning
    from collapse_guard.records.provenance import feature_columns
    from collapse_guard.records.workspace import generation_paths, pipeline_state
    from collapse_guard.tabular.evaluation import evaluate

    root = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    try:
        params = load_params(make_workspace(root))
        initialise(params)
        with prefect_test_harness(server_startup_timeout=120):
            guarded_retraining(params, 1)  # warm-up: generations 0 and 1, imports, MLflow schema
            guarded = timed(lambda: guarded_retraining(params, args.generations)) / args.generations

        state = pipeline_state(params)
        train, held_out = anchor.split(anchor.load(params.anchor_path), params.data.holdout_fraction)
        features = feature_columns(train)
        real = train[features]

        def bare_generations() -> None:
            model = load_generator(state.model_class, state.model_path)
            pools = []
            for g in range(args.generations):
                pools.append(model.sample(params.generation.synthetic_per_generation, params.decoding, seed=g))
                model = build_generator(params.model)
                model.fit(pd.concat([real, *pools], ignore_index=True), seed=g)
                model.sample(params.evaluation.sample_size, params.decoding, seed=g + 500)

        bare = timed(bare_generations) / args.generations

        last = generation_paths(params, state.last_generation)
        mixture = anchor.read_records(last.mixture)
        current = anchor.load(params.anchor_path)
        model = load_generator(state.model_class, state.model_path)
        samples = model.sample(params.evaluation.sample_size, params.decoding, 1)
        out = root / "bench"
        out.mkdir()
        components = {
            "GX gate (3 suites)": lambda: gate.evaluate(
                anchor=current,
                mixture=mixture,
                recorded_anchor=state.recorded_anchor,
                min_real_fraction=params.gate.min_real_fraction,
                expectations_dir=params.resolve(params.paths.expectations_dir),
                anchor_path="anchor",
                held_out=anchor.holdout_mask(current, params.data.holdout_fraction),
            ),
            "collapse metrics": lambda: evaluate(model, real, held_out[features], params.evaluation, 3),
            "Evidently drift report": lambda: modality_for(params).drift(samples, real, out / "drift.html"),
            "MLflow logging (metrics + artifacts)": lambda: tracking.log(
                params.tracking_uri,
                state_run,
                metrics={f"m{i}": i for i in range(12)},
                step=1,
                artifacts=[last.drift_html, last.metrics],
            ),
            "MLflow model (pyfunc save + log)": lambda: served_model.log_model(
                params.tracking_uri, state_run, last.model, params.model.class_path, params.decoding
            ),
            "promotion check (GX suite, 1 row)": lambda: promotion.decide(
                state.history[-1],
                state.history[-2],
                tail="tail_coverage",
                spread="variance_ratio",
                settings=params.promotion,
                expectations_dir=params.resolve(params.paths.expectations_dir),
                modality="tabular",
                model_file="model.pt",
            ),
            "DVC add + push (anchor + generation)": lambda: versioning.track(
                params.workspace, [params.anchor_path, last.dir]
            ),
            "ledger append (O(1) in its length)": lambda: ledger.append(root / "bench.jsonl", "bench", {"n": 1}),
            "sign the generation (model-signing, folder)": lambda: trust.sign_generation(
                params, last.dir, attestation.read_statement(last.dir / attestation.STATEMENT)
            ),
            "verify anchor + every recorded generation": lambda: (
                trust.anchor_differences(params, trust.workspace_keys(params)),
                trust.verify_generations(params, state.last_generation),
            ),
            "ledger append with a signed head": lambda: ledger.append(params.ledger_path, "benchmark", {}),
        }
        experiment = tracking.experiment_id(params.tracking_uri, "bench", root / "mlartifacts")
        state_run = tracking.start_run(params.tracking_uri, experiment, "bench")
        for fn in components.values():
            fn()  # warm
        breakdown = {name: timed(fn, repeat=3) for name, fn in components.items()}
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"embedded default: anchor {params.tabular.embedded.rows} rows, "
        f"{params.generation.synthetic_per_generation} synthetic per generation, "
        f"{params.evaluation.sample_size} evaluation samples; {args.generations} generations each side"
    )
    print(f"{'guarded generation (Prefect flow, all guards)':<48} {guarded:8.2f} s")
    print(f"{'bare generation (sample + fit + sample)':<48} {bare:8.2f} s")
    print(f"{'overhead ratio guarded / bare':<48} {guarded / bare:8.1f} x")
    print("where the overhead goes (each component alone, median of 3):")
    for name, seconds in breakdown.items():
        print(f"  {name:<46} {seconds:8.2f} s")
    rest = guarded - bare - sum(breakdown.values())
    print(f"  {'the rest: Prefect task runs, Parquet I/O, ledger':<46} {rest:8.2f} s")


if __name__ == "__main__":
    main()
