"""What a flow run leaves in the Prefect UI beside its logs: the gate's verdict as a table, and a markdown
summary of the run (Prefect's artifact API; the content is built by collapse_guard.pipeline.payloads)."""

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from collapse_guard.pipeline import payloads
from collapse_guard.pipeline.gate import GateVerdict
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.tasks.steps import pipeline_step


def publish_gate_table(generation: int, verdict: GateVerdict) -> None:
    """Inside the task that records the verdict, so the table belongs to that task run."""
    create_table_artifact(
        payloads.gate_table(verdict),
        key=f"gate-verdict-generation-{generation}",
        description=f"Gate verdict of generation {generation}: {verdict.describe()}",
    )


@pipeline_step("run-summary")
def publish_run_summary(status: str, outcomes: list[GenerationOutcome], error: str = "") -> str:
    return create_markdown_artifact(
        payloads.run_summary_markdown(status, outcomes, error),
        key="run-summary",
        description=f"collapse-guard run: {status}",
    )
