"""Drift of a model's samples against the real anchor, as an Evidently report (HTML) and a summary.

Evidently's DataDriftPreset tests every feature; ``drift_share`` is the fraction of features whose
distribution differs from the anchor's. The HTML is what a reviewer opens from MLflow.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from collapse_guard import atomic


@dataclass(frozen=True)
class DriftSummary:
    drift_share: float
    drifted_columns: int
    column_scores: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def drift_report(samples: pd.DataFrame, reference: pd.DataFrame, html_path: Path) -> DriftSummary:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(samples, reference)
    with atomic.atomic_path(Path(html_path).with_suffix(".html")) as tmp:
        html_tmp = tmp.with_name(tmp.name + ".html")  # Evidently insists on the suffix
        snapshot.save_html(str(html_tmp))
        html_tmp.replace(tmp)
    metrics = snapshot.dict()["metrics"]
    share = next(m["value"] for m in metrics if m["metric_name"].startswith("DriftedColumnsCount"))
    scores = {m["config"]["column"]: float(m["value"]) for m in metrics if m["metric_name"].startswith("ValueDrift")}
    return DriftSummary(drift_share=float(share["share"]), drifted_columns=int(share["count"]), column_scores=scores)
