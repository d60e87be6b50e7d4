"""Text collapse metrics as Evidently metrics, in the per-generation report beside the descriptor drift.

Evidently sees two datasets with a ``text`` column: ``reference`` (real anchor documents) and ``current``
(model samples). Definitions are in collapse_guard.text.metrics.
"""

from __future__ import annotations

from typing import Any

from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric

from collapse_guard.text.metrics import effective_vocabulary_ratio, rare_token_retention


class RareTokenRetention(SingleValueMetric):
    """Text: the tail of the vocabulary, measured as in collapse_guard.text.metrics."""

    tail_mass: float = 0.05


class RareTokenRetentionCalculation(SingleValueCalculation[RareTokenRetention]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        reference, samples = _texts(reference_data), _texts(current_data)
        retention = rare_token_retention(samples, reference[::2], reference[1::2], self.metric.tail_mass)
        return self.result(retention["rare_token_mass_retention"]), None

    def display_name(self) -> str:
        return "Rare-token mass retention (1 = real; falls as rare words vanish)"


class VocabularySpread(SingleValueMetric):
    pass


class VocabularySpreadCalculation(SingleValueCalculation[VocabularySpread]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        return self.result(effective_vocabulary_ratio(_texts(current_data), _texts(reference_data))), None

    def display_name(self) -> str:
        return "Effective vocabulary ratio 2^H(samples) / 2^H(real), same token count"


def _texts(data: Any) -> list[str]:
    """The documents of an Evidently dataset with a ``text`` column."""
    return data.as_dataframe()["text"].tolist()
