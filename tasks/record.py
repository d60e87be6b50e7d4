from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard import anchor, ledger, tracking, versioning
from collapse_guard.config import Params
from collapse_guard.curation import CurationReport
from collapse_guard.mixing import MixtureSummary
from collapse_guard.outcome import GenerationOutcome, RunContext
from collapse_guard.workspace import PipelineState, generation_paths, relative


@task(name="record", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def record_generation(
    params: Params,
    run: RunContext,
    mlflow_run_id: str,
    generation: int,
    state: PipelineState,
    curation: CurationReport | None,
    summary: MixtureSummary,
    model_id: str,
    metrics: dict[str, float],
) -> GenerationOutcome:
    """Version the generation with DVC, log it to MLflow, and append it to the audit ledger."""
    paths = generation_paths(params, generation)
    md5 = {}
    if params.tracking.dvc_track_outputs:
        md5 = versioning.track(params.workspace, [params.anchor_path, paths.dir])
    current = anchor.load(params.anchor_path)
    anchor_record = anchor.describe(current, dvc_md5=md5.get(relative(params, params.anchor_path), ""))
    counts = {
        "mixture_rows": summary.rows,
        "real": summary.real,
        "synthetic": summary.synthetic,
        **(curation.to_dict() if curation else {}),
    }
    logged = {
        "real_fraction": summary.real_fraction,
        "anchor_rows": anchor_record.rows,
        "synthetic_count": summary.synthetic,
        **(curation.to_dict() if curation else {}),
        **metrics,
    }
    for run_id in (mlflow_run_id, run.mlflow_parent_run_id):
        tracking.log(params.tracking_uri, run_id, metrics=logged, step=generation)
    tracking.log(
        params.tracking_uri,
        mlflow_run_id,
        params={
            "generation": generation,
            "policy": summary.policy,
            "anchor_dvc_md5": anchor_record.dvc_md5,
            "anchor_digest": anchor_record.digest,
            "seed": params.run.seed,
            "model_id": model_id,
            "parent_model_id": state.model_id,
            "decoding": params.decoding.model_dump_json(),
        },
        artifacts=[paths.drift_html, paths.metrics, paths.model],
    )
    tracking.finish(params.tracking_uri, mlflow_run_id)
    ledger.append(
        params.ledger_path,
        "generation_recorded",
        {
            "run": run.run_uuid,
            "generation": generation,
            "model_id": model_id,
            "model_class": params.model.class_path,
            "model_path": relative(params, paths.model),
            "parent_model_id": state.model_id,
            "anchor": anchor_record.to_dict(),
            "mixture": {
                **summary.to_dict(),
                "file": relative(params, paths.mixture),
                "digest": anchor.ids_digest(anchor.read_records(paths.mixture)["record_id"]),
            },
            "curation": curation.to_dict() if curation else None,
            "metrics": metrics,
            "dvc_md5": md5.get(relative(params, paths.dir), ""),
            "mlflow_run_id": mlflow_run_id,
        },
    )
    return GenerationOutcome(
        generation=generation,
        status="recorded",
        policy=summary.policy,
        real_fraction=summary.real_fraction,
        anchor_rows=anchor_record.rows,
        counts=counts,
        gate={"passed": True, "failures": []},
        metrics=metrics,
        mlflow_run_id=mlflow_run_id,
        model_id=model_id,
        drift_report=relative(params, paths.drift_html),
    )
