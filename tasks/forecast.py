"""The collapse forecast after each recorded generation: logged to MLflow, alerted when a floor is near."""

from collapse_guard.config import Params
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.records import alerts, ledger, tracking
from collapse_guard.records.workspace import generation_paths, relative
from collapse_guard.reports import forecast
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step(
    "forecast",
    says=lambda made: "; ".join(f.describe() for f in made) or "no floors to forecast",
    retries=2,
    retry_delay_seconds=2,
)
def forecast_collapse(params: Params, outcome: GenerationOutcome) -> list[forecast.Forecast]:
    """Fit each metric's trend over the recorded generations (the ledger's history, so the forecast spans runs),
    log it on the generation's MLflow run, and alert when a floor is within ``alerts.forecast_generations``."""
    history = forecast.recorded_history(ledger.read(params.ledger_path))
    made = forecast.for_history(history, params.forecast)
    if made and outcome.mlflow_run_id:
        tracking.log(
            params.tracking_uri, outcome.mlflow_run_id, metrics=forecast.tracked_metrics(made), step=outcome.generation
        )
    metrics_file = relative(params, generation_paths(params, outcome.generation).metrics)
    for alert in forecast.forecast_alerts(made, params.alerts.forecast_generations, metrics_file):
        alerts.send(params.alerts, alert, alerts.journal_path(params.ledger_path))
    return made
