"""Evaluation of a freshly trained tabular generator against real data it never saw.

The numbers that show collapse coming: rare-region retention (the headline of early collapse: how much of the
anchor's rare modes a model still produces), tail coverage and rare-mode retention (early collapse read other
ways; the named ``evaluation.rare_slices`` too), variance ratio (late collapse), the held-out real loss
(fidelity), and the distribution metrics against held-out real records (precision/recall, density/coverage,
Wasserstein, MMD², Vendi). Definitions are in collapse_guard.tabular.metrics.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from collapse_guard.config import EvaluationParams
from collapse_guard.generator import Generator
from collapse_guard.modality.base import (
    EVALUATION_DECODING,
    Evaluation,
    MetricJob,
    MetricRunner,
    heldout_loss,
    run_here,
    run_merged,
)
from collapse_guard.records.provenance import categorical_columns, numeric_columns
from collapse_guard.tabular.metrics.categorical import categorical_metrics, rare_levels
from collapse_guard.tabular.metrics.distance import distribution_parts, in_documented_order
from collapse_guard.tabular.metrics.modes import ModeMap, anchor_modes, rare_mode_metrics, slice_retention
from collapse_guard.tabular.metrics.regions import RareRegions, rare_region_metrics, rare_regions
from collapse_guard.tabular.metrics.tails import TailRegion, tail_coverage, tail_region, variance_ratio

HEADLINE = ("rare_region_retention", "variance_ratio")


def anchor_regions(anchor_features: pd.DataFrame, settings: EvaluationParams) -> RareRegions:
    """The anchor's rare regions, built as params.yaml's ``evaluation`` section says (its tail's row cap too)."""
    return rare_regions(anchor_features, settings.rare_share, settings.knn_k, settings.max_tail_rows)


def anchor_tail(anchor_features: pd.DataFrame, settings: EvaluationParams) -> TailRegion:
    """The anchor's tail region, built as params.yaml's ``evaluation`` section says."""
    return tail_region(
        anchor_features, settings.knn_k, settings.tail_quantile, settings.rarity_mass, settings.max_tail_rows
    )


def reference_rows(frame: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """At most ``max_rows`` of a real split, in their order: the k-NN metrics, the mode clustering and Evidently's
    drift tests cost at least linear time in the reference, and 50k rows estimate them as well as 800k. The seed is
    fixed, so every generation of one anchor version is measured against the same rows; a split at or under the cap
    is returned whole (the default anchor's metrics do not change)."""
    if len(frame) <= max_rows:
        return frame
    keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[keep].reset_index(drop=True)


def named_slices(
    samples: pd.DataFrame, anchor_train: pd.DataFrame, held_out: pd.DataFrame, settings: EvaluationParams
) -> dict[str, float]:
    """``slice_retention_<column>`` for every ``evaluation.rare_slices`` entry: the named level, or ("") the
    column's rare levels, in samples relative to held-out real records."""
    metrics = {}
    for column, level in settings.rare_slices.items():
        if column not in anchor_train:
            continue
        levels = {level} if level else rare_levels(anchor_train[column], settings.tail_quantile)
        metrics[f"slice_retention_{column}"] = slice_retention(samples, held_out, column, levels)
    return metrics


def evaluate(
    model: Generator,
    anchor_train: pd.DataFrame,
    held_out: pd.DataFrame,
    settings: EvaluationParams,
    seed: int,
    region: TailRegion | None = None,
    modes: ModeMap | None = None,
    runner: MetricRunner = run_here,
    regions: RareRegions | None = None,
) -> tuple[Evaluation, pd.DataFrame]:
    """Returns the numbers and the samples they were computed on (for the drift report).

    ``region`` (the anchor's tail), ``modes`` and ``regions`` can be passed in when many models are evaluated on
    one anchor. The metrics are computed as independent jobs (``metric_jobs``) by ``runner``: in this process by
    default.
    """
    samples = model.sample(settings.sample_size, EVALUATION_DECODING, seed)
    numeric = numeric_columns(anchor_train)  # geometry: distances and variances
    if region is None:
        region = anchor_tail(anchor_train[numeric], settings)
    if modes is None and numeric:
        modes = anchor_modes(anchor_train[numeric], rare_share=settings.rare_share)
    if regions is None and numeric:
        regions = anchor_regions(anchor_train[numeric], settings)
    jobs = metric_jobs(model, samples, anchor_train, held_out, settings, seed, region, modes, regions)
    metrics = in_documented_order(run_merged(runner, jobs, len(samples) + len(held_out)))
    return Evaluation(metrics, HEADLINE, model.diagnostics()), samples


def metric_jobs(
    model: Generator,
    samples: pd.DataFrame,
    anchor_train: pd.DataFrame,
    held_out: pd.DataFrame,
    settings: EvaluationParams,
    seed: int,
    region: TailRegion,
    modes: ModeMap | None,
    regions: RareRegions | None = None,
) -> dict[str, MetricJob]:
    """The evaluation's independent parts, in the order their metrics are reported. Each is a partial of a
    module-level function over its own data, so a Dask worker can run it: the four parts of the distribution
    metrics (what grows with the samples and the reference), the rare regions, modes and named slices, the
    categorical metrics, the tail and spread, the loss."""
    numeric, categorical = numeric_columns(anchor_train), categorical_columns(anchor_train)
    jobs: dict[str, MetricJob] = {}
    if settings.distribution_metrics:
        jobs.update(
            distribution_parts(samples[numeric], held_out[numeric], seed, settings.knn_k, settings.max_kernel_rows)
        )
    sliced = [
        *numeric,
        *(column for column in settings.rare_slices if column in anchor_train and column not in numeric),
    ]
    jobs["modes_and_slices"] = partial(
        _modes_and_slices, modes, samples[sliced], anchor_train[sliced], held_out[sliced], settings, regions
    )
    if categorical:  # a part ships its data: none for a table without categorical columns
        jobs["categorical"] = partial(
            categorical_metrics,
            samples[categorical],
            anchor_train[categorical],
            held_out[categorical],
            categorical,
            settings.tail_quantile,
        )
    jobs["tail_and_spread"] = partial(
        _tail_and_spread, region, samples[numeric], held_out[numeric], anchor_train[numeric]
    )
    jobs["loss"] = partial(heldout_loss, model, held_out)
    return jobs


def _modes_and_slices(
    modes: ModeMap | None,
    samples: pd.DataFrame,
    anchor_train: pd.DataFrame,
    held_out: pd.DataFrame,
    settings: EvaluationParams,
    regions: RareRegions | None = None,
) -> dict[str, float]:
    """Rare-region retention (always reported, the headline: NaN without numeric columns or rare regions), the
    rare modes and the named slices."""
    numeric = numeric_columns(anchor_train)
    return {
        **rare_region_metrics(regions, samples[numeric]),
        **(rare_mode_metrics(modes, samples[numeric], held_out[numeric]) if modes is not None else {}),
        **named_slices(samples, anchor_train, held_out, settings),
    }


def _tail_and_spread(
    region: TailRegion, samples: pd.DataFrame, held_out: pd.DataFrame, anchor_train: pd.DataFrame
) -> dict[str, float]:
    return {
        "tail_coverage": tail_coverage(region, samples, held_out),
        "variance_ratio": variance_ratio(samples, anchor_train),
    }
