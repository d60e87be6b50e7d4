"""Drift of a model's samples against the real anchor, as an Evidently report and a summary.

Each modality chooses its tail metric, spread metric and drift preset; this module runs them in one
report and reads the summary back. ``drift_share`` is the fraction of columns whose distribution differs
from the anchor's. ``evaluation.drift_report`` says what is written beside the summary: the report's page
(``html``, what a reviewer opens from MLflow), Evidently's metric values as JSON (``summary``), or nothing
(``off``); the summary's numbers are Evidently's in every mode.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from collapse_guard.config import DriftReportMode
from collapse_guard.records import atomic


@dataclass(frozen=True)
class DriftSummary:
    drift_share: float
    drifted_columns: int
    column_scores: dict[str, float]
    report_tail_coverage: float
    report_variance_ratio: float
    drift_columns_checked: int = 0  # columns the drift preset covered (a wide table's are a sample of them)

    def to_dict(self) -> dict:
        return asdict(self)


def run_report(
    tail_metric, spread_metric, drift_preset, current, reference, html_path: Path, mode: DriftReportMode = "html"
) -> DriftSummary:
    """Run an Evidently report of a tail metric, a spread metric and a drift preset; save its HTML atomically
    (``mode`` html), or Evidently's metric values beside it as ``.json`` (summary), or neither (off).

    ``current`` and ``reference`` are DataFrames or Evidently Datasets (text needs a data definition).
    """
    from evidently import Report

    with warnings.catch_warnings():
        # a constant column (e.g. every generated text at the maximum length) has no correlation to divide by
        warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning)
        snapshot = Report([tail_metric, spread_metric, drift_preset]).run(current, reference)
    results = snapshot.dict()["metrics"]
    if mode == "html":
        with atomic.atomic_path(Path(html_path).with_suffix(".html")) as tmp:
            html_tmp = tmp.with_name(tmp.name + ".html")  # Evidently insists on the suffix
            snapshot.save_html(str(html_tmp))
            html_tmp.replace(tmp)
    elif mode == "summary":
        atomic.write_json(Path(html_path).with_suffix(".json"), {"metrics": results})
    by_name = {m["metric_name"].split("(")[0]: m["value"] for m in results}
    share = by_name["DriftedColumnsCount"]
    scores = {m["config"]["column"]: float(m["value"]) for m in results if m["metric_name"].startswith("ValueDrift")}
    return DriftSummary(
        drift_share=float(share["share"]),
        drifted_columns=int(share["count"]),
        column_scores=scores,
        report_tail_coverage=float(by_name[type(tail_metric).__name__]),
        report_variance_ratio=float(by_name[type(spread_metric).__name__]),
        drift_columns_checked=len(scores),
    )
