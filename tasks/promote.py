"""After a generation is recorded: register its model in the MLflow Model Registry, log its mixture as the run's
dataset input, and move the alias ``champion`` to it only if the promotion check passes."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.config import Params
from collapse_guard.errors import DataError
from collapse_guard.modality.base import Modality
from collapse_guard.pipeline import payloads, promotion
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.pipeline.promotion import Decision, decide
from collapse_guard.records import alerts, ledger, registry, tracking
from collapse_guard.records.workspace import generation_paths, relative


@task(name="promote-or-hold", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def promote_or_hold(params: Params, modality: Modality, outcome: GenerationOutcome) -> Decision | None:
    settings = params.promotion
    if not settings.enabled:
        return None
    uri, name = params.tracking_uri, settings.model_name
    recorded = _recorded(params, outcome.generation)
    mixture = recorded["mixture"]
    registry.log_mixture_input(
        uri,
        outcome.mlflow_run_id,
        f"mixture-gen{outcome.generation:03d}",
        mixture["file"],
        recorded["dvc_md5"] or mixture["digest"],
        mixture["rows"],
    )
    current = registry.champion(uri, name)
    champion_metrics = None
    if current is not None:
        champion_body = _recorded(params, current.generation) if current.generation is not None else None
        if champion_body is None:
            raise DataError(
                f"the champion of the registered model {name!r} (version {current.version}) is not a generation this "
                "workspace's ledger records: another workspace uses the same promotion.model_name; give each its own",
                path=str(params.ledger_path),
            )
        champion_metrics = champion_body["metrics"]
    tail, spread = modality.headline
    model_file = relative(params, generation_paths(params, outcome.generation).model)
    decision = decide(
        outcome.metrics,
        champion_metrics,
        tail=tail,
        spread=spread,
        settings=settings,
        expectations_dir=params.resolve(params.paths.expectations_dir),
        modality=modality.name,
        model_file=model_file,
    )
    version = registry.register(
        uri, name, outcome.mlflow_run_id, "model", outcome.generation, {"model_id": outcome.model_id}
    )
    registry.mark(uri, name, version, decision.role, decision.summary)
    tracking.log(uri, outcome.mlflow_run_id, tags={"promotion": decision.role, "promotion_reason": decision.summary})
    kind, body = payloads.promotion_entry(
        generation=outcome.generation,
        model_id=outcome.model_id,
        registered_model=name,
        version=version,
        decision=decision,
        champion_before=current.version if current else None,
        sources=promotion.SOURCES,
    )
    ledger.append(params.ledger_path, kind, body)
    if not decision.promote:
        alerts.send(
            params.alerts,
            alerts.Alert(alerts.PROMOTION_REFUSED, outcome.generation, decision.summary, model_file),
            alerts.journal_path(params.ledger_path),
        )
    return decision


def _recorded(params: Params, generation: int) -> dict | None:
    entries = [e for e in ledger.read(params.ledger_path) if e["kind"] == "generation_recorded"]
    return next((e["body"] for e in reversed(entries) if e["body"]["generation"] == generation), None)
