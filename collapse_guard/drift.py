"""Drift of a model's samples against the real anchor, as an Evidently report (HTML) and a summary.

Evidently's DataDriftPreset tests every feature; ``drift_share`` is the fraction of features whose
distribution differs from the anchor's. The HTML is what a reviewer opens from MLflow.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from collapse_guard import atomic
from collapse_guard.config import EvaluationParams


@dataclass(frozen=True)
class DriftSummary:
    drift_share: float
    drifted_columns: int
    column_scores: dict[str, float]
    report_tail_coverage: float
    report_variance_ratio: float

    def to_dict(self) -> dict:
        return asdict(self)


def drift_report(
    samples: pd.DataFrame, reference: pd.DataFrame, html_path: Path, tail: EvaluationParams | None = None
) -> DriftSummary:
    """Tabular data: drift of every feature, plus tail coverage and variance ratio as Evidently metrics."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from evidently.presets import DataDriftPreset

    from collapse_guard.evidently_metrics import TailCoverage, VarianceRatio

    tail = tail or EvaluationParams()
    tail_metric = TailCoverage(k=tail.knn_k, tail_quantile=tail.tail_quantile, rarity_mass=tail.rarity_mass)
    return run_report(tail_metric, VarianceRatio(), DataDriftPreset(), samples, reference, html_path)


def run_report(tail_metric, spread_metric, drift_preset, current, reference, html_path: Path) -> DriftSummary:  # noqa: ANN001
    """Run an Evidently report of a tail metric, a spread metric and a drift preset; save its HTML atomically.

    ``current`` and ``reference`` are DataFrames or Evidently Datasets (text needs a data definition).
    """
    from evidently import Report

    with warnings.catch_warnings():
        # a constant column (e.g. every generated text at the maximum length) has no correlation to divide by
        warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning)
        snapshot = Report([tail_metric, spread_metric, drift_preset]).run(current, reference)
    with atomic.atomic_path(Path(html_path).with_suffix(".html")) as tmp:
        html_tmp = tmp.with_name(tmp.name + ".html")  # Evidently insists on the suffix
        snapshot.save_html(str(html_tmp))
        html_tmp.replace(tmp)
    results = snapshot.dict()["metrics"]
    by_name = {m["metric_name"].split("(")[0]: m["value"] for m in results}
    share = by_name["DriftedColumnsCount"]
    scores = {m["config"]["column"]: float(m["value"]) for m in results if m["metric_name"].startswith("ValueDrift")}
    return DriftSummary(
        drift_share=float(share["share"]),
        drifted_columns=int(share["count"]),
        column_scores=scores,
        report_tail_coverage=float(by_name[type(tail_metric).__name__]),
        report_variance_ratio=float(by_name[type(spread_metric).__name__]),
    )
