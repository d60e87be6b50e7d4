"""Tabular collapse metrics as Evidently metrics, so they sit in the per-generation report beside the drift table.

Evidently sees two frames: ``reference`` (real anchor records) and ``current`` (model samples). The
tail is built from the reference's even rows and the real tail mass measured on its odd rows, so the
estimate needs nothing else (the MLflow ``tail_coverage`` uses the held-out split instead; both
estimate the same quantity, defined in collapse_guard.metrics.tails).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric

from collapse_guard.config import EvaluationParams
from collapse_guard.records.provenance import numeric_columns
from collapse_guard.reports.drift import DriftSummary, run_report
from collapse_guard.tabular.column_kinds import column_kinds
from collapse_guard.tabular.metrics.tails import tail_coverage, tail_region, variance_ratio


class TailCoverage(SingleValueMetric):
    k: int = 5
    tail_quantile: float = 0.05
    rarity_mass: float = 0.03


class TailCoverageCalculation(SingleValueCalculation[TailCoverage]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        reference = reference_data.as_dataframe().select_dtypes("number")
        samples = current_data.as_dataframe()[reference.columns]
        region = tail_region(reference.iloc[::2], self.metric.k, self.metric.tail_quantile, self.metric.rarity_mass)
        return self.result(tail_coverage(region, samples, reference.iloc[1::2])), None

    def display_name(self) -> str:
        return "Tail coverage (1 = real; falls as rare events vanish)"


class VarianceRatio(SingleValueMetric):
    pass


class VarianceRatioCalculation(SingleValueCalculation[VarianceRatio]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        reference = reference_data.as_dataframe().select_dtypes("number")
        return self.result(variance_ratio(current_data.as_dataframe()[reference.columns], reference)), None

    def display_name(self) -> str:
        return "Variance ratio tr(Σ samples) / tr(Σ real)"


def drift_report(
    samples: pd.DataFrame, reference: pd.DataFrame, html_path: Path, tail: EvaluationParams | None = None
) -> DriftSummary:
    """Tabular data: drift of every feature, plus tail coverage and variance ratio as Evidently metrics."""
    from collapse_guard.reports.evidently_drift import data_drift_preset

    tail = tail or EvaluationParams()
    tail_metric = TailCoverage(k=tail.knn_k, tail_quantile=tail.tail_quantile, rarity_mass=tail.rarity_mass)
    columns = drift_columns(list(reference.columns), tail.max_drift_columns)
    methods = {c: m for c, m in discrete_drift_methods(reference).items() if c in columns}
    preset = data_drift_preset(tail.drift_report, columns=columns, per_column_method=methods or None)
    return run_report(tail_metric, VarianceRatio(), preset, samples, reference, html_path, tail.drift_report)


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
