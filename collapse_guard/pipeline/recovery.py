"""What a killed run leaves behind, cleaned by the next run (which holds the workspace lock, so nothing it
finds can belong to a live run).

kill -9 keeps the history consistent (every write is a temp file renamed into place, a generation is written
in a staging folder renamed into place whole, an anchor part is published by its manifest's rename, the ledger
is appended last), but leaves the staging folder of the generation it did not finish, the temp files of writes
it did not finish, an anchor part no manifest lists, and the MLflow runs it opened stay RUNNING forever. All are
cleaned here, and the caller says so.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from collapse_guard.config import Params
from collapse_guard.errors import LedgerTampered
from collapse_guard.records import anchor, ledger, staging, tracking
from collapse_guard.records.workspace import relative

# collapse_guard.records.atomic names its temp files ``.<target name>.<random>.tmp`` beside the target
ATOMIC_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def folders_written(params: Params) -> list[Path]:
    return [
        params.resolve(params.paths.generations_dir),
        params.ledger_path.parent,
        params.resolve(params.paths.reports_dir),
        params.anchor_path.parent,
        params.resolve(params.paths.quarantine_dir),
    ]


def stale_temp_files(params: Params) -> list[Path]:
    found: list[Path] = []
    for folder in folders_written(params):
        if folder.is_dir():
            found += [p for p in folder.rglob(".*.tmp") if p.is_file() and ATOMIC_TEMP.match(p.name)]
    return sorted(set(found))


def clean_after_crash(params: Params) -> list[str]:
    """Remove what ``clean_files`` removes and mark unfinished MLflow runs FAILED; what was done, one line each."""
    done = clean_files(params)
    for run_id, name in unfinished_runs(params):
        tracking.log(params.tracking_uri, run_id, tags={"status": "killed", "cleaned_by": "next run"})
        tracking.finish(params.tracking_uri, run_id, "FAILED")
        done.append(f"marked MLflow run {name} ({run_id}) FAILED: the run that opened it was killed")
    return done


def clean_files(params: Params) -> list[str]:
    """Remove stale staging folders, temp files and what a killed append or migration left of the anchor
    (``ingest`` runs this too: it opens no MLflow run); what was done, one line each. An append to the ledger a
    crash interrupted is recovered first (collapse_guard/records/ledger.py ``recover``: the workspace's key is
    checked before anything is cut or signed)."""
    done = [f"ledger {relative(params, params.ledger_path)}: {note}" for note in ledger.recover(params.ledger_path)]
    for folder in staging.leftover_folders(params):
        shutil.rmtree(folder)
        done.append(
            f"removed the staging folder of a generation a killed run never published: "
            f"{folder.relative_to(params.workspace)}"
        )
    for path in stale_temp_files(params):
        path.unlink(missing_ok=True)
        done.append(f"removed a temp file a killed run left: {path.relative_to(params.workspace)}")
    try:
        recorded = ledger.latest(ledger.read(params.ledger_path), *ledger.ANCHOR_RECORDING_KINDS)
    except LedgerTampered:
        return done  # no record to tell a killed append from an edited manifest: the ledger check reports it
    recorded_rows = None if recorded is None else int(recorded["body"]["anchor"]["rows"])
    for what, path in anchor.clean_leftovers(params.anchor_path, recorded_rows):
        done.append(f"{what}: {path.relative_to(params.workspace)}")
    return done


def unfinished_runs(params: Params) -> list[tuple[str, str]]:
    """MLflow runs of this workspace's experiment still RUNNING (only ever a killed run's, under the lock)."""
    if not params.tracking_uri.startswith("sqlite:///") or not Path(params.tracking_uri[10:]).exists():
        return []  # a shared tracking server may hold other workspaces' live runs: left alone
    mlflow_client = tracking.client(params.tracking_uri)
    experiment = mlflow_client.get_experiment_by_name(params.tracking.experiment_name)
    if experiment is None:
        return []
    runs = mlflow_client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'", max_results=1000)
    return [(run.info.run_id, run.info.run_name) for run in runs]
