"""Evaluation of a freshly trained generator against real data it never saw.

The numbers that show collapse coming: tail coverage (early collapse), variance ratio (late
collapse), the held-out real loss (fidelity), and the distribution metrics against held-out real
records (precision/recall, density/coverage, Wasserstein, MMD², Vendi). Definitions are in
collapse_guard.metrics.tails and collapse_guard.metrics.distance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from collapse_guard.config import DecodingParams, EvaluationParams
from collapse_guard.metrics.categorical import categorical_metrics
from collapse_guard.metrics.distance import distribution_metrics
from collapse_guard.metrics.tails import TailRegion, tail_coverage, tail_region, variance_ratio
from collapse_guard.models.base import Generator
from collapse_guard.provenance import categorical_columns, numeric_columns


@dataclass(frozen=True)
class Evaluation:
    tail_coverage: float
    variance_ratio: float
    heldout_real_loss: float
    distribution: dict[str, float] = field(default_factory=dict)
    diagnostics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, float]:
        """Flat: distribution metrics and the model's own diagnostics sit beside the collapse metrics."""
        flat = asdict(self)
        return {**flat.pop("diagnostics"), **flat.pop("distribution"), **flat}


def anchor_tail(anchor_features: pd.DataFrame, settings: EvaluationParams) -> TailRegion:
    """The anchor's tail region, built as params.yaml's ``evaluation`` section says."""
    return tail_region(
        anchor_features, settings.knn_k, settings.tail_quantile, settings.rarity_mass, settings.max_tail_rows
    )


def evaluate(
    model: Generator,
    anchor_train: pd.DataFrame,
    held_out: pd.DataFrame,
    settings: EvaluationParams,
    decoding: DecodingParams,
    seed: int,
    region: TailRegion | None = None,
) -> tuple[Evaluation, pd.DataFrame]:
    """Returns the numbers and the samples they were computed on (for the drift report).

    ``region`` (the anchor's tail) can be passed in when many models are evaluated on one anchor.
    """
    samples = model.sample(settings.sample_size, decoding, seed)
    numeric = numeric_columns(anchor_train)  # geometry: distances and variances
    if region is None:
        region = anchor_tail(anchor_train[numeric], settings)
    categorical = categorical_columns(anchor_train)
    distribution = (
        distribution_metrics(samples[numeric], held_out[numeric], seed, settings.knn_k, settings.max_kernel_rows)
        if settings.distribution_metrics
        else {}
    )
    result = Evaluation(
        tail_coverage=tail_coverage(region, samples[numeric], held_out[numeric]),
        variance_ratio=variance_ratio(samples[numeric], anchor_train[numeric]),
        heldout_real_loss=model.loss(held_out),
        distribution={
            **distribution,
            **categorical_metrics(samples, anchor_train, held_out, categorical, settings.tail_quantile),
        },
        diagnostics=model.diagnostics(),
    )
    return result, samples
