"""The evaluation's metrics as Evidently metrics: each shown under the evaluation's name with the value the
evaluation computed, so the report a reviewer opens holds the same numbers as the run summary, MLflow and the
ledger (imported only when a report is built: Evidently is slow to import)."""

from __future__ import annotations

from typing import Any

from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric


class RecordedValue(SingleValueMetric):
    """One metric of the generation's evaluation: ``metric`` is its name, ``recorded`` its value as computed by
    the evaluation (not recomputed here)."""

    metric: str
    recorded: float


class RecordedValueCalculation(SingleValueCalculation[RecordedValue]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        return self.result(self.metric.recorded), None

    def display_name(self) -> str:
        return f"{self.metric.metric} (the evaluation's value, as recorded in the ledger and MLflow)"
