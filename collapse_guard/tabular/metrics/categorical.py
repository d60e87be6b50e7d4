"""Collapse metrics for categorical columns: rare levels are the tails of a categorical distribution.

rare_level_retention: for each categorical column, the anchor's rare levels are the least frequent
levels that together hold at most ``tail_quantile`` of the anchor (at least the single rarest one).
Retention = share of model samples with a rare level / share of held-out real records with one,
averaged over columns: ≈ 1 for the real distribution, → 0 as rare levels vanish (the categorical
analogue of tail coverage).
level_coverage: share of the anchor's levels the samples still produce, averaged over columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def rare_levels(anchor_column: pd.Series, tail_quantile: float) -> set[str]:
    shares = anchor_column.astype(str).value_counts(normalize=True).sort_values()
    within = shares.index[shares.cumsum() <= tail_quantile].tolist()
    return set(within or shares.index[:1].tolist())


def categorical_metrics(
    samples: pd.DataFrame, anchor: pd.DataFrame, held_out: pd.DataFrame, columns: list[str], tail_quantile: float
) -> dict[str, float]:
    if not columns:
        return {}
    retention, coverage = [], []
    for column in columns:
        rare = rare_levels(anchor[column], tail_quantile)
        real_share = held_out[column].astype(str).isin(rare).mean()
        model_share = samples[column].astype(str).isin(rare).mean()
        retention.append(model_share / real_share if real_share > 0 else np.nan)
        levels = set(anchor[column].astype(str))
        coverage.append(len(levels & set(samples[column].astype(str))) / len(levels))
    return {"rare_level_retention": float(np.nanmean(retention)), "level_coverage": float(np.mean(coverage))}
