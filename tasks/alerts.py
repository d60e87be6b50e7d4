"""Alerts a recorded generation raises (collapse_guard/records/alerts.py sends them)."""

from collapse_guard.config import Params
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.records import alerts
from collapse_guard.records.workspace import generation_paths, relative
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("metric-floors", says=lambda n: f"{n} alert(s)" if n else "every metric above its floor")
def alert_metric_floors(params: Params, outcome: GenerationOutcome) -> int:
    """A collapse metric under its floor (``alerts.metric_floors``) is reported, not blocked: the gate decides
    what is trained on, the floors decide who is told. Returns how many alerts went out."""
    metrics_file = relative(params, generation_paths(params, outcome.generation).metrics)
    raised = alerts.below_floors(params.alerts, outcome.generation, outcome.metrics, metrics_file)
    for alert in raised:
        alerts.send(params.alerts, alert, alerts.journal_path(params.ledger_path))
    return len(raised)
