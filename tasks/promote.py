"""After a generation is recorded: decide whether its model may be served (one task), then register it in the
MLflow Model Registry, log its mixture as the run's dataset input, move the alias ``champion`` if it passed,
and record the decision (another)."""

from dataclasses import replace

from collapse_guard.config import Params
from collapse_guard.errors import DataError
from collapse_guard.modality.base import Modality
from collapse_guard.pipeline import data_docs, payloads, promotion
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.pipeline.promotion import Decision, decide
from collapse_guard.records import alerts, ledger, registry, tracking
from collapse_guard.records.workspace import generation_paths, promotion_page, relative
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("promotion-check", says=lambda d: d.describe() if d else "off (promotion.enabled: false)")
def decide_promotion(params: Params, modality: Modality, outcome: GenerationOutcome) -> Decision | None:
    """The promotion suite on the candidate's margins over the current champion (None: promotion is off)."""
    settings = params.promotion
    if not settings.enabled:
        return None
    current = registry.champion(params.tracking_uri, settings.model_name)
    champion_metrics = None
    if current is not None:
        champion_body = _recorded(params, current.generation) if current.generation is not None else None
        if champion_body is None:
            raise DataError(
                f"the champion of the registered model {settings.model_name!r} (version {current.version}) is not a "
                "generation this workspace's ledger records: another workspace uses the same promotion.model_name; "
                "give each its own",
                path=str(params.ledger_path),
            )
        champion_metrics = champion_body["metrics"]
    tail, spread = modality.headline
    decision = decide(
        outcome.metrics,
        champion_metrics,
        tail=tail,
        spread=spread,
        settings=settings,
        expectations_dir=params.resolve(params.paths.expectations_dir),
        modality=modality.name,
        model_file=relative(params, generation_paths(params, outcome.generation).model),
    )
    return replace(decision, champion_before=current.version if current else None)


@pipeline_step(
    "record-promotion",
    says=lambda d: ("champion moved" if d.promote else "candidate, alerted") if d else "nothing to record",
    retries=2,
    retry_delay_seconds=2,
)
def record_promotion(params: Params, outcome: GenerationOutcome, decision: Decision | None) -> Decision | None:
    if decision is None:
        return None
    uri, name = params.tracking_uri, params.promotion.model_name
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
    version = registry.register(
        uri, name, outcome.mlflow_run_id, "model", outcome.generation, {"model_id": outcome.model_id}
    )
    registry.mark(uri, name, version, decision.role, decision.summary)
    title = f"promotion check, generation {outcome.generation}"
    page = data_docs.write_validation_page(promotion_page(params, outcome.generation), decision.results, title)
    tracking.log(
        uri,
        outcome.mlflow_run_id,
        tags={"promotion": decision.role, "promotion_reason": decision.summary},
        artifacts=[page] if page else None,
    )
    kind, body = payloads.promotion_entry(
        generation=outcome.generation,
        model_id=outcome.model_id,
        registered_model=name,
        version=version,
        decision=decision,
        champion_before=decision.champion_before,
        sources=promotion.SOURCES,
    )
    ledger.append(params.ledger_path, kind, body)
    if not decision.promote:
        model_file = relative(params, generation_paths(params, outcome.generation).model)
        alert = alerts.Alert(alerts.PROMOTION_REFUSED, outcome.generation, decision.summary, model_file)
        alerts.send(params.alerts, alert, alerts.journal_path(params.ledger_path))
    return decision


def _recorded(params: Params, generation: int) -> dict | None:
    entries = [e for e in ledger.read(params.ledger_path) if e["kind"] == "generation_recorded"]
    return next((e["body"] for e in reversed(entries) if e["body"]["generation"] == generation), None)
