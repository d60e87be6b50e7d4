"""MLflow: one parent run per ``collapse-guard run``, one nested run per generation.

The client API with explicit run ids is used instead of MLflow's "active run" globals, because
Prefect may run tasks on worker threads where that global state does not follow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def client(tracking_uri: str):
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def experiment_id(tracking_uri: str, name: str, artifact_dir: Path | None) -> str:
    mlflow_client = client(tracking_uri)
    existing = mlflow_client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = Path(artifact_dir).resolve().as_uri() if artifact_dir and tracking_uri.startswith("sqlite") else None
    return mlflow_client.create_experiment(name, artifact_location=location)


def start_run(
    tracking_uri: str, experiment: str, name: str, parent_run_id: str | None = None, tags: dict | None = None
) -> str:
    all_tags = {"mlflow.runName": name, **(tags or {})}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    return client(tracking_uri).create_run(experiment, tags=all_tags).info.run_id


def log(
    tracking_uri: str,
    run_id: str,
    *,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    step: int = 0,
    tags: dict[str, str] | None = None,
    artifacts: list[Path] | None = None,
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    mlflow_client = client(tracking_uri)
    mlflow_client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), 0, step) for k, v in (metrics or {}).items() if v is not None],
        params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
        tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
    )
    for path in artifacts or []:
        if Path(path).exists():
            mlflow_client.log_artifact(run_id, str(path))


def log_folder(tracking_uri: str, run_id: str, folder: Path, artifact_path: str) -> None:
    """A whole folder (e.g. an MLflow model written by ``save_model``) under ``artifact_path`` in the run."""
    client(tracking_uri).log_artifacts(run_id, str(folder), artifact_path)


def finish(tracking_uri: str, run_id: str, status: str = "FINISHED") -> None:
    client(tracking_uri).set_terminated(run_id, status=status)


def log_history(tracking_uri: str, run_id: str, history: list[dict[str, Any]], step_key: str = "generation") -> None:
    """Every numeric value of every row as a metric at ``step = row[step_key]``, in as few calls as MLflow allows."""
    from mlflow.entities import Metric

    metrics = [
        Metric(key, float(value), 0, int(row[step_key]))
        for row in history
        for key, value in row.items()
        if key != step_key and isinstance(value, int | float) and not isinstance(value, bool) and value == value
    ]
    mlflow_client = client(tracking_uri)
    for start in range(0, len(metrics), 1000):  # MLflow's per-batch limit
        mlflow_client.log_batch(run_id, metrics=metrics[start : start + 1000])
