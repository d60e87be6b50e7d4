"""One name, one number: a generation's metrics as the run summary, MLflow, the ledger and the Evidently report's
JSON record them, gathered by name, for tests that check they agree."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

from collapse_guard.records import ledger
from collapse_guard.reports.drift import report_values


def recorded_numbers(workspace: Path, outcome: dict, ledger_path: Path, drift_json: Path) -> dict[str, dict]:
    """Source -> {metric name -> value} for the generation of ``outcome`` (one entry of ``run --json``)."""
    generation = outcome["generation"]
    body = next(
        e["body"]
        for e in reversed(ledger.read(ledger_path))
        if e["kind"] == "generation_recorded" and e["body"]["generation"] == generation
    )
    db = sqlite3.connect(workspace / "mlflow.db")
    rows = db.execute(
        "select key, value, is_nan from metrics where run_uuid = ? and step = ? order by timestamp",
        (outcome["mlflow_run_id"], generation),
    ).fetchall()
    mlflow = {key: (math.nan if is_nan else value) for key, value, is_nan in rows}  # the last logged wins
    return {
        "summary": {
            **outcome["metrics"],
            "real_fraction": outcome["real_fraction"],
            "anchor_rows": outcome["anchor_rows"],
        },
        "ledger": {
            **body["metrics"],
            "real_fraction": body["mixture"]["real_fraction"],
            "anchor_rows": body["anchor"]["rows"],
        },
        "mlflow": mlflow,
        "evidently": report_values(json.loads(drift_json.read_text())),
    }


def disagreements(numbers: dict[str, dict]) -> dict[str, dict]:
    """Every name recorded with two different values somewhere (NaN equals NaN), with each source's value."""
    names = {name for values in numbers.values() for name in values}
    found = {}
    for name in sorted(names):
        seen = {source: float(values[name]) for source, values in numbers.items() if name in values}
        first = next(iter(seen.values()))
        if not all(v == first or (math.isnan(v) and math.isnan(first)) for v in seen.values()):
            found[name] = seen
    return found


def uncatalogued(numbers: dict[str, dict], catalog: dict) -> set[str]:
    """The metric names recorded anywhere that the modality's catalog does not describe (the docs' reference)."""
    from collapse_guard.modality.metric_catalog import describes

    return {name for values in numbers.values() for name in values if not describes(catalog, name)}
