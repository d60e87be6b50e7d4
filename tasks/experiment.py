"""Tasks of the collapse experiment: simulate one chain, then save, draw and log the results."""

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.config import Params
from collapse_guard.modality.base import Modality
from collapse_guard.pipeline.experiment import ChainResult, ChainSpec, generations_until, simulate_under, tidy
from collapse_guard.records import atomic, tracking
from collapse_guard.records.anchor import AnchorSplit, load_split
from collapse_guard.reports import figures


@task(name="load-anchor-split", cache_policy=NO_CACHE)
def load_anchor_split(params: Params) -> AnchorSplit:
    return load_split(params.anchor_path, params.data.holdout_fraction)


@task(name="simulate-chain", cache_policy=NO_CACHE, task_run_name="{spec.kind}-{spec.policy}-seed{spec.seed}")
def simulate(spec: ChainSpec, anchor: AnchorSplit, modality: Modality, params: Params) -> ChainResult:
    return simulate_under(params, spec, anchor, modality)


@task(name="save-results", cache_policy=NO_CACHE)
def save_results(params: Params, results: list[ChainResult], tail_metric: str) -> dict[str, Path]:
    """The tidy results table and the safe-zone table, as Parquet and CSV."""
    out = params.resolve(params.experiment.output_dir)
    table, sweep = tidy(results)
    paths = {}
    for name, frame in (("results", table), ("sweep", sweep)):
        if frame.empty:
            continue
        atomic.write_parquet(out / f"{name}.parquet", frame)
        atomic.write_text(out / f"{name}.csv", frame.to_csv(index=False))
        paths[name] = out / f"{name}.csv"
    if not sweep.empty:
        zone = generations_until(sweep, tail_metric, params.experiment.tail_threshold)
        atomic.write_text(out / "safe_zone.csv", zone.to_csv(index=False))
        paths["safe_zone"] = out / "safe_zone.csv"
    return paths


@task(name="draw-figures", cache_policy=NO_CACHE)
def draw_figures(params: Params, results: list[ChainResult], anchor: AnchorSplit, modality: Modality) -> list[Path]:
    out = params.resolve(params.experiment.output_dir)
    table, sweep = tidy(results)
    drawn = [
        figures.metric_curves(table, out / "metrics_by_generation.png", modality.figure_metrics),
        figures.real_fraction(table, out / "real_fraction.png"),
    ]
    samples = {r.spec.policy: r.samples for r in results if r.samples and r.spec.kind == "policy"}
    drawn += modality.sample_figures(samples, anchor, out)
    if not sweep.empty:
        zone = generations_until(sweep, modality.headline[0], params.experiment.tail_threshold)
        drawn.append(figures.safe_zone(zone, params.experiment.sweep.generations, out / "safe_zone.png"))
    return drawn


@task(name="log-experiment", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def log_experiment(params: Params, results: list[ChainResult], artifacts: list[Path]) -> str:
    """One MLflow parent run for the experiment, one nested run per chain with metrics by generation."""
    uri = params.tracking_uri
    experiment = tracking.experiment_id(
        uri, params.tracking.experiment_name + "-experiments", params.resolve(params.tracking.mlflow_artifacts)
    )
    parent = tracking.start_run(uri, experiment, "collapse-experiment")
    tracking.log(uri, parent, params=params.experiment.model_dump(mode="json"), artifacts=artifacts)
    for result in results:
        spec = result.spec
        name = f"{spec.kind}-{spec.policy}-seed{spec.seed}" + (
            f"-n{spec.anchor_rows}-r{spec.real_fraction}" if spec.kind == "sweep" else ""
        )
        child = tracking.start_run(uri, experiment, name, parent_run_id=parent)
        tracking.log(uri, child, params={k: v for k, v in vars(spec).items()})
        tracking.log_history(uri, child, [{k: v for k, v in row.items() if k != "seed"} for row in result.rows])
        tracking.finish(uri, child)
    tracking.finish(uri, parent)
    return parent
