"""Run-level records: the MLflow parent run and the ledger's run entries."""

import uuid

from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.config import Params
from collapse_guard.modality.base import Modality
from collapse_guard.pipeline.outcome import RunContext
from collapse_guard.records import ledger, runtime, tracking


@task(name="open-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def open_run(params: Params, modality: Modality, generations: int) -> RunContext:
    uri = params.tracking_uri
    experiment = tracking.experiment_id(
        uri, params.tracking.experiment_name, params.resolve(params.tracking.mlflow_artifacts)
    )
    run_uuid = uuid.uuid4().hex
    parent = tracking.start_run(uri, experiment, f"run-{run_uuid[:8]}", tags={"collapse_guard.run": run_uuid})
    tracking.log(
        uri,
        parent,
        params={
            "policy": params.mixing.policy,
            "mode": params.run.mode,
            "seed": params.run.seed,
            "generations_requested": generations,
            "min_real_fraction": params.gate.min_real_fraction,
            "model_class": params.model.class_path,
            "modality": modality.name,
            **modality.tracking_params(),
        },
    )
    ledger.append(
        params.ledger_path,
        "run_started",
        {
            "run": run_uuid,
            "mlflow_run_id": parent,
            "generations": generations,
            "params": params.model_dump(mode="json", exclude={"workspace", "source_file"}),
            "runtime": runtime.describe(params.run.seed, params.model.options),
        },
    )
    return RunContext(run_uuid=run_uuid, experiment_id=experiment, mlflow_parent_run_id=parent)


@task(name="open-generation", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def open_generation(tracking_uri: str, run: RunContext, generation: int) -> str:
    return tracking.start_run(
        tracking_uri,
        run.experiment_id,
        f"generation-{generation}",
        parent_run_id=run.mlflow_parent_run_id,
        tags={"collapse_guard.run": run.run_uuid, "generation": str(generation)},
    )


@task(name="close-run", cache_policy=NO_CACHE)
def close_run(params: Params, run: RunContext, status: str, completed: list[int], error: str = "") -> None:
    ledger.append(
        params.ledger_path,
        "run_finished",
        {"run": run.run_uuid, "status": status, "generations_completed": completed, "error": error},
    )
    tracking.log(params.tracking_uri, run.mlflow_parent_run_id, tags={"status": status})
    tracking.finish(params.tracking_uri, run.mlflow_parent_run_id, "FINISHED" if status == "completed" else "FAILED")
