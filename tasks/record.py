from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.config import Params
from collapse_guard.pipeline import payloads
from collapse_guard.pipeline.handles import Batch, GenerationContext, Measured, MixtureHandle, TrainedModel
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.records import ledger, tracking, versioning
from collapse_guard.records.anchor import describe


@task(name="version", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def version_outputs(ctx: GenerationContext, anchor_path: Path, enabled: bool) -> dict[str, str]:
    """``dvc add`` + ``dvc push`` of the anchor and the generation's folder; the md5 DVC recorded for each."""
    if not enabled:
        return {}
    return versioning.track(ctx.workspace, [anchor_path, ctx.paths.dir])


@task(name="record", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def record_generation(
    params: Params,
    ctx: GenerationContext,
    md5: dict[str, str],
    batch: Batch | None,
    mixture: MixtureHandle,
    model: TrainedModel,
    measured: Measured,
) -> GenerationOutcome:
    """Log the generation to MLflow, and append it to the audit ledger."""
    anchor = describe(ctx.anchor.frame, dvc_md5=md5.get(ctx.anchor_file, ""))
    curation = batch.curation if batch else None
    logged = payloads.generation_metrics(mixture.summary, anchor.rows, curation, measured.metrics)
    uri = params.tracking_uri
    for run_id in (ctx.mlflow_run_id, ctx.run.mlflow_parent_run_id):
        tracking.log(uri, run_id, metrics=logged, step=ctx.generation)
    tracking.log(
        uri,
        ctx.mlflow_run_id,
        params=payloads.generation_params(
            generation=ctx.generation,
            policy=mixture.summary.policy,
            anchor=anchor,
            seed=params.run.seed,
            model_id=model.model_id,
            parent_model_id=ctx.state.model_id,
            decoding=params.decoding.model_dump_json(),
        ),
        artifacts=[ctx.paths.drift_html, ctx.paths.metrics, ctx.paths.model],
    )
    tracking.finish(uri, ctx.mlflow_run_id)
    entry = payloads.generation_entry(
        run_uuid=ctx.run.run_uuid,
        generation=ctx.generation,
        model_id=model.model_id,
        model_class=params.model.class_path,
        model_path=ctx.relative(model.path),
        parent_model_id=ctx.state.model_id,
        anchor=anchor,
        summary=mixture.summary,
        mixture_file=ctx.relative(mixture.path),
        mixture_digest=mixture.digest,
        curation=curation,
        metrics=measured.metrics,
        dvc_md5=md5.get(ctx.relative(ctx.paths.dir), ""),
        mlflow_run_id=ctx.mlflow_run_id,
    )
    ledger.append(params.ledger_path, "generation_recorded", entry)
    return payloads.recorded_outcome(
        ctx.generation,
        mixture.summary,
        anchor.rows,
        curation,
        measured.metrics,
        mlflow_run_id=ctx.mlflow_run_id,
        model_id=model.model_id,
        drift_report=ctx.relative(ctx.paths.drift_html),
    )
