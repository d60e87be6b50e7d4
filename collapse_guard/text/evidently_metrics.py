"""The text drift report's own Evidently metrics, beside the evaluation's metrics (shown as recorded, see
collapse_guard.reports.drift) and the descriptor drift.

Evidently sees two datasets with a ``text`` column: ``reference`` (real anchor documents) and ``current``
(model samples). Definitions are in collapse_guard.text.metrics.
"""

from __future__ import annotations

from typing import Any

from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric

from collapse_guard.text.metrics import rare_token_retention

ANCHOR_HALVES = "rare_token_mass_retention_anchor_halves"


class RareTokenMassRetentionAnchorHalves(SingleValueMetric):
    """``rare_token_mass_retention_anchor_halves``: the rare-token mass retention (collapse_guard.text.metrics)
    estimated within the reference alone. It differs from ``rare_token_mass_retention`` in its data: the tail
    vocabulary comes from the reference's even documents (not the whole anchor train split) and the real tail share
    from its odd documents (text the model was trained on), on as many sample tokens as those hold, where
    ``rare_token_mass_retention`` divides by held-out real text the model never saw, within
    ``text.metric_tokens``. Close for a healthy model; not the same number."""

    metric: str = ANCHOR_HALVES
    tail_mass: float = 0.05


class RareTokenMassRetentionAnchorHalvesCalculation(SingleValueCalculation[RareTokenMassRetentionAnchorHalves]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        reference, samples = _texts(reference_data), _texts(current_data)
        retention = rare_token_retention(samples, reference[::2], reference[1::2], self.metric.tail_mass)
        return self.result(retention["rare_token_mass_retention"]), None

    def display_name(self) -> str:
        return (
            f"{ANCHOR_HALVES}: rare-token mass retention within the anchor's train split (tail words from its even "
            "documents, real share in its odd ones); rare_token_mass_retention divides by held-out text instead"
        )


class DescriptorWindow(SingleValueMetric):
    """What the descriptor drift below compares, stated in the report where its verdict is read: its value is the
    window (tokens) each document's tail share and type-token ratio are measured on."""

    window: int
    low: int
    high: int


class DescriptorWindowCalculation(SingleValueCalculation[DescriptorWindow]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        return self.result(float(self.metric.window)), None

    def display_name(self) -> str:
        m = self.metric
        return (
            f"Descriptor window (tokens): model samples against anchor documents, share of tail words and type-token "
            f"ratio on each document's first {m.window} tokens, lengths within the samples' bounds {m.low}-{m.high}. "
            "A difference at generation 0 is the model's own distance from real text, not collapse"
        )


def _texts(data: Any) -> list[str]:
    """The documents of an Evidently dataset with a ``text`` column."""
    return data.as_dataframe()["text"].tolist()
