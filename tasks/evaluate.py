from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.pipeline import step
from collapse_guard.pipeline.handles import GenerationContext, Measured, TrainedModel
from collapse_guard.records import atomic
from collapse_guard.records.provenance import feature_columns


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_model(ctx: GenerationContext, model: TrainedModel) -> Measured:
    """Collapse metrics against held-out real data, and an Evidently drift report against the anchor."""
    evaluation, samples = step.evaluate(
        ctx.modality.evaluator(ctx.anchor), model.model, generation=ctx.generation, seeds=ctx.seeds
    )
    train = ctx.anchor.train
    drift = ctx.modality.drift(samples, train[feature_columns(train)], ctx.paths.drift_html)
    metrics = {**evaluation.to_dict(), "drift_share": drift.drift_share}
    atomic.write_json(ctx.paths.metrics, {**metrics, **drift.to_dict()})
    return Measured(metrics, drift)
