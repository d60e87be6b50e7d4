from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.pipeline.payloads import run_reports
from collapse_guard.records import atomic, ledger


@task(name="write-reports", cache_policy=NO_CACHE)
def write_reports(reports_dir: Path, outcomes: list[GenerationOutcome], ledger_path: Path) -> list[Path]:
    """The run's summary files that dvc.yaml declares as outputs, metrics and plots, however the flow was started
    (the per-generation series from the ledger, so it spans runs)."""
    written = []
    for name, payload in run_reports(outcomes, ledger.read(ledger_path)).items():
        atomic.write_json(reports_dir / name, payload)
        written.append(reports_dir / name)
    return written
