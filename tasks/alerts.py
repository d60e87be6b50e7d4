"""Alerts a recorded generation raises (collapse_guard/records/alerts.py sends them)."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.config import Params
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.records import alerts
from collapse_guard.records.workspace import generation_paths, relative


@task(name="alert-metric-floors", cache_policy=NO_CACHE)
def alert_metric_floors(params: Params, outcome: GenerationOutcome) -> int:
    """A collapse metric under its floor (``alerts.metric_floors``) is reported, not blocked: the gate decides
    what is trained on, the floors decide who is told. Returns how many alerts went out."""
    metrics_file = relative(params, generation_paths(params, outcome.generation).metrics)
    raised = alerts.below_floors(params.alerts, outcome.generation, outcome.metrics, metrics_file)
    for alert in raised:
        alerts.send(params.alerts, alert, alerts.journal_path(params.ledger_path))
    return len(raised)
