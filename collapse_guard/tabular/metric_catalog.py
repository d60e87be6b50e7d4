"""The tabular modality's metrics (collapse_guard/modality/metric_catalog.py explains the catalog)."""

from __future__ import annotations

from collapse_guard.modality.metric_catalog import COUNT, HIGHER, NEAR_ONE, NEAR_ZERO, MetricInfo, catalog

TABULAR_METRICS = catalog(
    MetricInfo(
        "rare_region_retention",
        "the headline of early collapse: over the anchor's rare regions (small groups of anchor records that a "
        "density clustering and a Gaussian mixture agree are modes of their own, under evaluation.rare_share of the "
        "anchor), the share of model samples placed in them (k-NN vote among anchor records) divided by the "
        "anchor's own share: how much of the rare modes is left (0 = gone); NaN when the anchor has no rare region",
        "1",
        HIGHER,
    ),
    MetricInfo(
        "rare_regions_kept",
        "rare regions whose own sample share is still at least a quarter of their real share (a region lost while "
        "another is over-produced shows here)",
        "rare_regions",
        HIGHER,
    ),
    MetricInfo("rare_regions", "rare regions the anchor has", "-", COUNT),
    MetricInfo(
        "tail_coverage",
        "the share of model samples that fall in the anchor's tail region (its lowest-density points, by k-NN "
        "radius) divided by the share of held-out real records that do: an early-collapse signal (Shumailov et al. "
        "2024: the tails go first) that also counts the sparse edge of common modes",
        "1",
        HIGHER,
    ),
    MetricInfo(
        "tail_coverage_anchor_halves",
        "Evidently's own estimate of tail coverage: the tail region and the real share measured on two halves of the "
        "anchor's train split instead of the held-out split (a second estimator, reported under its own name)",
        "1",
        HIGHER,
    ),
    MetricInfo(
        "variance_ratio",
        "tr(Σ samples) / tr(Σ train split), each feature in the train split's standard units: the late-collapse "
        "signal (variance shrinks)",
        "1",
        NEAR_ONE,
    ),
    MetricInfo(
        "covariance_trace_ratio",
        "tr(Σ samples) / tr(Σ reference) in raw units (one feature's scale can dominate; variance_ratio does not)",
        "1",
        NEAR_ONE,
    ),
    MetricInfo(
        "rare_mode_retention",
        "over the anchor's rare clusters (k-means modes holding a small share of the anchor), the samples' share in "
        "them relative to the held-out real share",
        "1",
        HIGHER,
    ),
    MetricInfo("rare_modes_produced", "rare clusters the samples reach at all", "rare_modes", HIGHER),
    MetricInfo("rare_modes", "rare clusters the anchor has", "-", COUNT),
    MetricInfo(
        "rare_level_retention",
        "categorical columns: the samples' share of each column's rare levels relative to the real share, averaged",
        "1",
        HIGHER,
    ),
    MetricInfo(
        "level_coverage", "categorical columns: the share of real levels the samples produce at all", "1", HIGHER
    ),
    MetricInfo(
        "precision",
        "k-NN precision (Kynkäänniemi et al. 2019): the share of samples inside the real data's k-NN balls (fidelity)",
        "as high as held-out real data scores",
        HIGHER,
    ),
    MetricInfo(
        "recall",
        "k-NN recall: the share of real records inside the samples' k-NN balls (diversity: what the model covers)",
        "as high as held-out real data scores",
        HIGHER,
    ),
    MetricInfo(
        "density", "density (Naeem et al. 2020): how many real k-NN balls hold a sample, on average / k", "1", NEAR_ONE
    ),
    MetricInfo(
        "coverage",
        "coverage (Naeem et al. 2020): the share of real records whose k-NN ball holds a sample",
        "as high as held-out real data scores",
        HIGHER,
    ),
    MetricInfo("wasserstein", "per-feature Wasserstein-1 between samples and real records, averaged", "0", NEAR_ZERO),
    MetricInfo(
        "sliced_wasserstein",
        "sliced Wasserstein-1 over random directions (sees dependence between features)",
        "0",
        NEAR_ZERO,
    ),
    MetricInfo(
        "mmd2",
        "unbiased MMD² with a Gaussian kernel (Gretton et al. 2012) between samples and real records",
        "0",
        NEAR_ZERO,
    ),
    MetricInfo(
        "vendi_score",
        "the Vendi score (Friedman & Dieng 2023) of the samples: their effective number of distinct points",
        "as high as real records score",
        HIGHER,
    ),
    MetricInfo(
        "min_component_weight",
        "the built-in Gaussian mixture's smallest component weight (a diagnostic of the model: a component that "
        "starves is a mode being lost)",
        "well above 0",
        HIGHER,
    ),
    MetricInfo(
        "mean_component_variance",
        "the built-in Gaussian mixture's mean component variance, in standard units (a model diagnostic)",
        "stable across generations",
        NEAR_ONE,
    ),
)
