"""The tabular drift report: every feature's drift, the evaluation's metrics as recorded, and one estimator of
the report's own.

Evidently sees two frames: ``reference`` (real anchor records) and ``current`` (model samples). The
evaluation's metrics (``tail_coverage``, ``variance_ratio``...) are shown with the values the evaluation computed
(collapse_guard.reports.drift); the report adds ``tail_coverage_anchor_halves``, a second estimate of the tail
coverage that needs only those two frames (``TailCoverageAnchorHalves``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric

from collapse_guard.config import EvaluationParams
from collapse_guard.records.provenance import numeric_columns
from collapse_guard.reports.drift import DriftSummary, run_report
from collapse_guard.tabular.column_kinds import column_kinds
from collapse_guard.tabular.metrics.tails import tail_coverage, tail_region

ANCHOR_HALVES = "tail_coverage_anchor_halves"


class TailCoverageAnchorHalves(SingleValueMetric):
    """``tail_coverage_anchor_halves``: the tail coverage ratio (collapse_guard.tabular.metrics.tails) estimated
    within the reference alone. It differs from ``tail_coverage`` in its data: the tail region is built from the
    reference's even rows (not the whole anchor train split) and the real tail mass is measured on its odd rows
    (records the model was trained on), where ``tail_coverage`` divides by the mass in the held-out split the
    model never saw. Close to ``tail_coverage`` for a healthy model; not the same number."""

    metric: str = ANCHOR_HALVES
    k: int = 5
    tail_quantile: float = 0.05
    rarity_mass: float = 0.03


class TailCoverageAnchorHalvesCalculation(SingleValueCalculation[TailCoverageAnchorHalves]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        reference = reference_data.as_dataframe().select_dtypes("number")
        samples = current_data.as_dataframe()[reference.columns]
        region = tail_region(reference.iloc[::2], self.metric.k, self.metric.tail_quantile, self.metric.rarity_mass)
        return self.result(tail_coverage(region, samples, reference.iloc[1::2])), None

    def display_name(self) -> str:
        return (
            f"{ANCHOR_HALVES}: tail coverage within the anchor's train split (tail from its even rows, real mass on "
            "its odd rows); tail_coverage divides by the held-out split instead"
        )


def drift_report(
    samples: pd.DataFrame,
    reference: pd.DataFrame,
    html_path: Path,
    tail: EvaluationParams | None = None,
    recorded: Mapping[str, float] | None = None,
) -> DriftSummary:
    """Tabular data: drift of every feature, the evaluation's ``recorded`` metrics, and the report's own
    ``tail_coverage_anchor_halves``."""
    from collapse_guard.reports.evidently_drift import data_drift_preset

    tail = tail or EvaluationParams()
    halves = TailCoverageAnchorHalves(k=tail.knn_k, tail_quantile=tail.tail_quantile, rarity_mass=tail.rarity_mass)
    columns = drift_columns(list(reference.columns), tail.max_drift_columns)
    methods = {c: m for c, m in discrete_drift_methods(reference).items() if c in columns}
    preset = data_drift_preset(tail.drift_report, columns=columns, per_column_method=methods or None)
    compares = f"{len(samples)} model samples against {len(reference)} anchor train records, {len(columns)} features"
    return run_report(
        preset,
        samples,
        reference,
        html_path,
        recorded=recorded,
        estimators=(halves,),
        compares=compares,
        mode=tail.drift_report,
    )


def drift_columns(columns: list[str], limit: int) -> list[str]:
    """The columns the drift preset covers: all of them, or for a wide table a fixed sample of ``limit``.

    Evidently renders a chart per column while it computes (about 0.3-1 s each here), so a 500-column table
    spent minutes in the report with no output. The sample is seeded by the column names, so every generation
    of one table checks the same columns; its drift share estimates the whole table's."""
    if len(columns) <= limit:
        return columns
    names = sorted(columns)
    seed = int.from_bytes(hashlib.sha256("\n".join(names).encode()).digest()[:8], "big")
    chosen = {names[i] for i in np.random.default_rng(seed).choice(len(names), size=limit, replace=False)}
    return [column for column in columns if column in chosen]


def discrete_drift_methods(reference: pd.DataFrame) -> dict[str, str]:
    """Discrete numeric columns (integer, boolean, few values) get a distance between their value frequencies
    (Jensen-Shannon, drifted above 0.1), not a test for continuous data: with thousands of samples a
    significance test flags differences too small to matter, and a rating is not a continuous quantity."""
    kinds = column_kinds(reference[numeric_columns(reference)])
    return {column: "jensenshannon" for column, kind in kinds.items() if kind["discrete"] or kind["kind"] != "float"}
