"""Collapse metrics as Evidently metrics, so they sit in the per-generation report beside the drift table.

Evidently sees two frames: ``reference`` (real anchor records) and ``current`` (model samples). The
tail is built from the reference's even rows and the real tail mass measured on its odd rows, so the
estimate needs nothing else (the MLflow ``tail_coverage`` uses the held-out split instead; both
estimate the same quantity, defined in collapse_guard.metrics.tails).
"""

from __future__ import annotations

from typing import Any

from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric

from collapse_guard.metrics.tails import tail_coverage, tail_region, variance_ratio


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


class RareTokenRetention(SingleValueMetric):
    """Text: the tail of the vocabulary, measured as in collapse_guard.text.metrics."""

    tail_mass: float = 0.05


class RareTokenRetentionCalculation(SingleValueCalculation[RareTokenRetention]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        from collapse_guard.text.metrics import rare_token_retention

        reference, samples = _texts(reference_data), _texts(current_data)
        retention = rare_token_retention(samples, reference[::2], reference[1::2], self.metric.tail_mass)
        return self.result(retention["rare_token_mass_retention"]), None

    def display_name(self) -> str:
        return "Rare-token mass retention (1 = real; falls as rare words vanish)"


class VocabularySpread(SingleValueMetric):
    pass


class VocabularySpreadCalculation(SingleValueCalculation[VocabularySpread]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        from collapse_guard.text.metrics import effective_vocabulary_ratio

        return self.result(effective_vocabulary_ratio(_texts(current_data), _texts(reference_data))), None

    def display_name(self) -> str:
        return "Effective vocabulary ratio 2^H(samples) / 2^H(real), same token count"


def _texts(data: Any) -> list[str]:
    """The documents of an Evidently dataset with a ``text`` column."""
    return data.as_dataframe()["text"].tolist()
