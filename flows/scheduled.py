"""The flow ``collapse-guard serve`` serves as a Prefect deployment on the cron schedule in params.yaml.

A scheduled run takes the workspace lock (a cron run overlapping a slow one, or a hand-started ``run``, waits
``run.lock_wait_seconds`` and then fails naming the holder), checks the external parts, sets the workspace up
and runs the guarded generations; an expected failure (gate blocked, anchor changed, ledger broken) is
alerted to ``alerts.urls``. Its parameters are JSON (the params file's path), so the Prefect UI can start it too.
"""

from prefect import flow

from collapse_guard.flows.guarded_retraining import guarded_retraining
from collapse_guard.modality.registry import load_params
from collapse_guard.records import alerts
from collapse_guard.records.lock import workspace_lock
from collapse_guard.tasks.workspace import check_services, clean_after_a_killed_run, initialise_workspace


@flow(name="scheduled-retraining", flow_run_name="scheduled-{generations}-generation(s)")
def scheduled_retraining(params_file: str, generations: int = 1) -> dict:
    """``generations`` guarded generations in the workspace of ``params_file``; returns the run's summary."""
    params = load_params(params_file)
    with (
        alerts.on_failure(params.alerts, journal=alerts.journal_path(params.ledger_path)),
        workspace_lock(params.workspace, "scheduled-retraining (Prefect)", params.run.lock_wait_seconds),
    ):
        check_services(params)
        clean_after_a_killed_run(params)
        initialise_workspace(params)
        outcomes = guarded_retraining(params, generations)
    return {"status": "completed", "generations": [o.to_dict() for o in outcomes]}
