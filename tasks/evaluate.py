from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.modality.base import MetricJob, MetricRunner, run_here
from collapse_guard.pipeline import step
from collapse_guard.pipeline.handles import GenerationContext, Measured, TrainedModel
from collapse_guard.records import atomic
from collapse_guard.records.provenance import feature_columns
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("evaluate", says=lambda measured: measured.describe())
def evaluate_model(ctx: GenerationContext, model: TrainedModel, runner: MetricRunner = run_here) -> Measured:
    """Collapse metrics against held-out real data, and an Evidently drift report against the anchor.
    ``runner``: where the metrics' independent parts run (``tasks.cluster.DaskMetrics``: on Dask when big)."""
    evaluation, samples = step.evaluate(
        ctx.modality.evaluator(ctx.anchor, runner), model.model, generation=ctx.generation, seeds=ctx.seeds
    )
    train = ctx.anchor.train
    evaluated = evaluation.to_dict()
    drift = ctx.modality.drift(samples, train[feature_columns(train)], ctx.paths.drift_html, evaluated)
    # one name, one number: what the report estimated itself is recorded under its own names
    metrics = {**evaluated, "drift_share": drift.drift_share, **drift.estimates}
    atomic.write_json(ctx.paths.metrics, {**metrics, **drift.to_dict()})
    return Measured(metrics, drift, evaluation.headline)


@task(name="evaluation-part", task_run_name="evaluation-{name}", cache_policy=NO_CACHE)
def evaluation_part(name: str, job: MetricJob) -> dict[str, float]:
    """One independent part of an evaluation (``name``: k-NN distribution metrics, modes, tail, loss), on a
    Dask worker."""
    return job()
