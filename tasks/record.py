from dataclasses import replace
from pathlib import Path

from prefect.states import State

from collapse_guard.config import Params, TrackingParams
from collapse_guard.errors import RemoteStalled
from collapse_guard.pipeline import payloads
from collapse_guard.pipeline.handles import Batch, GenerationContext, Measured, MixtureHandle, TrainedModel
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.records import ledger, staging, tracking, versioning
from collapse_guard.records.workspace import GenerationPaths
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("publish", says=lambda paths: f"{paths.dir.name}/ in place")
def publish_generation(ctx: GenerationContext) -> GenerationPaths:
    """The generation's staging folder becomes ``generations/gen_NNN/`` in one rename, just before it is
    versioned and recorded (collapse_guard/records/staging.py)."""
    staging.publish(ctx.paths.dir, ctx.published.dir)
    return ctx.published


def not_a_stalled_push(task: object, task_run: object, state: State) -> bool:
    """Retry a failed push, not one still running on its thread (it holds DVC's lock: a retry would wait on it)."""
    return not isinstance(state.result(raise_on_failure=False), RemoteStalled)


@pipeline_step(
    "version",
    says=lambda md5: ", ".join(f"{name} md5 {digest[:10]}" for name, digest in md5.items()) or "off",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=not_a_stalled_push,
)
def version_outputs(
    ctx: GenerationContext, published: GenerationPaths, anchor_path: Path, tracking_params: TrackingParams
) -> dict[str, str]:
    """``dvc add`` + ``dvc push`` (bounded by ``tracking.dvc_push_timeout_seconds``) of the anchor and the
    published generation folder; the md5 DVC recorded for each."""
    if not tracking_params.dvc_track_outputs:
        return {}
    return versioning.track(
        ctx.workspace, [anchor_path, published.dir], push_timeout=tracking_params.dvc_push_timeout_seconds
    )


@pipeline_step("record", says=lambda outcome: f"recorded as {outcome.model_id}", retries=2, retry_delay_seconds=2)
def record_generation(
    params: Params,
    ctx: GenerationContext,
    published: GenerationPaths,
    md5: dict[str, str],
    batch: Batch | None,
    mixture: MixtureHandle,
    model: TrainedModel,
    measured: Measured,
) -> GenerationOutcome:
    """Log the published generation to MLflow, and append it to the audit ledger."""
    anchor = replace(ctx.anchor.record, dvc_md5=md5.get(ctx.anchor_file, ""))  # rows and digest as read once
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
        artifacts=[published.drift_html, published.drift_json, published.metrics],  # those that exist
    )
    from collapse_guard.pipeline import served_model  # imports mlflow.pyfunc: only when a model is logged

    served_model.log_model(uri, ctx.mlflow_run_id, published.model, params.model.class_path, params.decoding)
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
        dvc_md5=md5.get(ctx.relative(published.dir), ""),
        mlflow_run_id=ctx.mlflow_run_id,
        forecast_settings=params.forecast.model_dump(),
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
        drift_report=ctx.relative(report) if (report := published.drift_report()) else "",
    )
