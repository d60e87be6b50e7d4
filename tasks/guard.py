"""collapse-guard's gate and record-keeping as Prefect tasks for a team's own flow (docs/guard-your-pipeline.md).

Put ``check_mixture`` between the task that builds the mixture and the one that trains, and
``record_trained_model`` after training: a blocked mixture fails the flow run with GateBlocked before anything
trains on it (the verdict's table is the task run's artifact in the Prefect UI, as for the guarded flow's gate),
and the model is recorded against the mixture that passed. Both log their start and end lines like the guarded
flow's steps. Their parameters are paths and strings, so they run in any flow, on any worker that sees the
workspace (examples/guard-your-pipeline/flow.py)::

    from prefect import flow
    from collapse_guard.tasks.guard import check_mixture, record_trained_model

    @flow
    def my_pipeline(params_file: str) -> None:
        mixture = build_mixture()                   # your task: writes the Parquet file it returns
        checked = check_mixture(params_file, mixture)
        model = fine_tune(mixture)                  # your task (or a deployment on a GPU pool)
        record_trained_model(params_file, model, checked.digest)
"""

from collections.abc import Mapping

from prefect.artifacts import create_table_artifact

from collapse_guard.errors import GateBlocked
from collapse_guard.guard import CheckResult, Guard, RecordedModel
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("check-mixture", says=lambda result: f"passed, ledger line {result.ledger_line}")
def check_mixture(params_file: str, mixture: str, columns: Mapping[str, str] | None = None) -> CheckResult:
    """``collapse-guard check`` as a task: the verdict recorded (ledger, MLflow, ``reports/checks/``) and shown as
    this task run's table; GateBlocked (the flow run fails, exit 4's cause) when the gate blocked the mixture."""
    try:
        result = Guard.from_params(params_file).check(mixture, columns=columns)
    except GateBlocked as blocked:
        _publish(blocked.details.get("checks", []), mixture, "blocked")
        raise
    _publish(result.checks, mixture, "passed")
    return result


@pipeline_step("record-trained-model", says=lambda recorded: f"recorded as {recorded.model_id}")
def record_trained_model(
    params_file: str, model: str, mixture: str, model_class: str | None = None, evaluate: bool = True
) -> RecordedModel:
    """``collapse-guard record-model`` as a task: MixtureNotGated (exit 14's cause) unless ``mixture`` (its file or
    its digest) passed the gate."""
    return Guard.from_params(params_file).record_model(
        model, mixture=mixture, model_class=model_class, evaluate=evaluate
    )


def _publish(rows: list[dict[str, str]], mixture: str, status: str) -> None:
    create_table_artifact(
        rows, key="gate-verdict-check", description=f"Gate verdict of the mixture {mixture}: {status}"
    )
