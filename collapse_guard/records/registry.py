"""The MLflow Model Registry: every trained model is a version of one registered model, and the alias
``champion`` names the one to serve (``candidate`` tags the rest).

Client API with explicit names and versions (no active-run globals), as in collapse_guard/records/tracking.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from collapse_guard.records.tracking import client

CHAMPION = "champion"


@dataclass(frozen=True)
class Version:
    version: str
    run_id: str
    generation: int | None


def register(tracking_uri: str, name: str, run_id: str, artifact: str, generation: int, tags: dict) -> str:
    """A new version of ``name`` from the run's logged ``artifact`` (the MLflow model's folder, so
    ``models:/<name>@champion`` loads with ``mlflow.pyfunc.load_model``); returns its number."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(tracking_uri)
    try:
        mlflow_client.get_registered_model(name)
    except MlflowException:
        mlflow_client.create_registered_model(name, description="collapse-guard: one version per trained generation")
    source = f"{mlflow_client.get_run(run_id).info.artifact_uri.rstrip('/')}/{artifact}"
    all_tags = {"generation": str(generation), **{k: str(v) for k, v in tags.items()}}
    return mlflow_client.create_model_version(name, source, run_id=run_id, tags=all_tags).version


def champion(tracking_uri: str, name: str) -> Version | None:
    from mlflow.exceptions import MlflowException

    try:
        found = client(tracking_uri).get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    generation = found.tags.get("generation")
    return Version(str(found.version), found.run_id, int(generation) if generation is not None else None)


def version_of(tracking_uri: str, name: str, generation: int) -> Version | None:
    """The registered version of ``generation`` (the latest one, if it was registered twice)."""
    versions = client(tracking_uri).search_model_versions(f"name = '{name}' and tag.generation = '{generation}'")
    if not versions:
        return None
    found = max(versions, key=lambda v: int(v.version))
    return Version(str(found.version), found.run_id, generation)


def mark(tracking_uri: str, name: str, version: str, role: str, reason: str) -> None:
    """Tag a version ``champion`` or ``candidate`` with the reason; ``champion`` also moves the alias to it."""
    mlflow_client = client(tracking_uri)
    if role == CHAMPION:
        mlflow_client.set_registered_model_alias(name, CHAMPION, version)
    mlflow_client.set_model_version_tag(name, version, "role", role)
    mlflow_client.set_model_version_tag(name, version, "promotion_reason", reason[:5000])


def log_mixture_input(tracking_uri: str, run_id: str, name: str, source: str, digest: str, rows: int) -> None:
    """The training mixture as an MLflow dataset input of the run (lineage in the MLflow UI). Its digest is the
    DVC md5 already computed, so a large mixture is never hashed again."""
    import json

    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = Dataset(
        name=name,
        digest=digest[:36],
        source_type="local",
        source=json.dumps({"uri": source}),
        profile=json.dumps({"num_rows": rows}),
    )
    context = InputTag(key="mlflow.data.context", value="training")
    client(tracking_uri).log_inputs(run_id, datasets=[DatasetInput(dataset=dataset, tags=[context])])
