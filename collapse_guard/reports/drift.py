"""Drift of a model's samples against the real anchor, as an Evidently report (HTML and JSON) and a summary.

Each modality chooses its drift preset and may add estimators of its own; this module runs them in one report
and reads the summary back. ``drift_share`` is the fraction of columns whose distribution differs from the
anchor's. The HTML is what a reviewer opens from MLflow and the audit page; the JSON beside it is the same
report as data (Evidently's snapshot).

One name, one number: the report shows the evaluation's metrics under their own names with the values the
evaluation computed (``RecordedValue``), the very numbers the run summary, MLflow and the ledger hold, and never
recomputes one of them another way. An estimator the report computes itself carries a name of its own (e.g.
``tail_coverage_anchor_halves``) and a sentence saying how it differs; it is recorded under that name too
(``DriftSummary.estimates``).

``evaluation.drift_report`` says what is written: the page and its JSON (``html``), the JSON only (``summary``:
no page, and the preset draws no per-column charts), or nothing (``off``); the summary's numbers are the same in
every mode.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from collapse_guard.config import DriftReportMode
from collapse_guard.records import atomic

DRIFT_SHARE = "drift_share"


@dataclass(frozen=True)
class DriftSummary:
    drift_share: float
    drifted_columns: int
    column_scores: dict[str, float]
    drift_columns_checked: int = 0  # columns the drift preset covered (a wide table's are a sample of them)
    estimates: dict[str, float] = field(default_factory=dict)  # the report's own estimators, by their own names
    compares: str = ""  # what the drift preset compared with what, in words

    def to_dict(self) -> dict:
        return asdict(self)


def run_report(
    drift_preset,
    current,
    reference,
    html_path: Path,
    *,
    recorded: Mapping[str, float] | None = None,
    estimators: tuple = (),
    compares: str = "",
    mode: DriftReportMode = "html",
) -> DriftSummary:
    """Run an Evidently report of the evaluation's ``recorded`` metrics, the report's own ``estimators`` (Evidently
    metrics: one with a ``metric`` field is a number recorded under that name, one without states a setting of
    the comparison) and a drift preset; save its HTML and its JSON (beside it, ``.json``) atomically, as ``mode`` says.

    ``current`` and ``reference`` are DataFrames or Evidently Datasets (text needs a data definition).
    """
    from evidently import Report

    from collapse_guard.reports.evidently_values import RecordedValue

    shown = [RecordedValue(metric=name, recorded=float(value)) for name, value in (recorded or {}).items()]
    with warnings.catch_warnings():
        # a constant column (e.g. every generated text at the maximum length) has no correlation to divide by
        warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning)
        snapshot = Report([*shown, *estimators, drift_preset]).run(current, reference)
    as_dict = snapshot.dict()
    if mode == "html":
        with atomic.atomic_path(Path(html_path).with_suffix(".html")) as tmp:
            html_tmp = tmp.with_name(tmp.name + ".html")  # Evidently insists on the suffix
            snapshot.save_html(str(html_tmp))
            html_tmp.replace(tmp)
    if mode in ("html", "summary"):
        atomic.write_text(report_json_path(html_path), json.dumps(as_dict, default=str))
    results = as_dict["metrics"]
    share = next(m["value"] for m in results if m["metric_name"].startswith("DriftedColumnsCount"))
    scores = {m["config"]["column"]: float(m["value"]) for m in results if m["metric_name"].startswith("ValueDrift")}
    own = {name for estimator in estimators if isinstance(name := getattr(estimator, "metric", None), str)}
    return DriftSummary(
        drift_share=float(share["share"]),
        drifted_columns=int(share["count"]),
        column_scores=scores,
        drift_columns_checked=len(scores),
        estimates={name: value for name, value in report_values(as_dict).items() if name in own},
        compares=compares,
    )


def report_json_path(html_path: Path) -> Path:
    """Where the report's JSON (Evidently's snapshot as a dict) is written beside its HTML."""
    return Path(html_path).with_suffix(".json")


def report_values(snapshot: dict) -> dict[str, float]:
    """Every named number of a saved report: the recorded metrics and own estimators by their ``metric`` name, and
    ``drift_share`` (Evidently's drifted-columns share). What a reviewer compares with the ledger and MLflow."""
    values: dict[str, float] = {}
    for item in snapshot["metrics"]:
        config = item.get("config") or {}
        if isinstance(config.get("metric"), str):
            values[config["metric"]] = float(item["value"])
        elif item["metric_name"].startswith("DriftedColumnsCount"):
            values[DRIFT_SHARE] = float(item["value"]["share"])
    return values
