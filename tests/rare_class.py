"""Real tables with a rare class, and an independent label-based measure of how much of it a model keeps.

The tables: scikit-learn's bundled handwritten digits (1797 images, no download), reduced to 8 principal
components, with one digit thinned to 2.5 % of the records (digit 0 unless told otherwise).

The label measure (``LabelRetention``): a 5-NN classifier fitted on the anchor's train split with its labels (the
rare digit or not), in the anchor's standardised units, labels each model sample: it is the rare class when most of
its 5 nearest real records are. Label retention = share of samples so labelled / share of the train split that is
the rare class. It uses the labels, which the metrics never see. Rare-or-not and the metrics' units because that
is the question the early-collapse metrics ask ("is this sample among the rare records?"); model samples that land
between classes make any labeller's answer a convention there, and a 10-class vote in raw units calls more of them
the rare digit (benchmarks/rare_modes.py prints that variant beside it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, EvaluationParams
from collapse_guard.records.anchor import AnchorSplit, as_real_records, describe, holdout_mask
from collapse_guard.tabular.gmm import GaussianMixtureGenerator
from collapse_guard.tabular.metrics.modes import anchor_modes, rare_mode_metrics
from collapse_guard.tabular.metrics.regions import rare_region_metrics, rare_regions
from collapse_guard.tabular.metrics.tails import tail_coverage, tail_region

RARE_DIGIT = 0


def thinned_digits(
    rare_share: float = 0.025, seed: int = 0, rare_digit: int = RARE_DIGIT
) -> tuple[pd.DataFrame, np.ndarray]:
    """(8 principal components as x0..x7, the digit of each record), ``rare_digit`` thinned to ``rare_share``."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    digits = load_digits()
    rng = np.random.default_rng(seed)
    common = np.flatnonzero(digits.target != rare_digit)
    rare_all = np.flatnonzero(digits.target == rare_digit)
    keep_rare = round(rare_share * len(common) / (1 - rare_share))
    rows = np.sort(np.concatenate([common, rng.choice(rare_all, size=keep_rare, replace=False)]))
    components = PCA(n_components=8, random_state=0).fit_transform(digits.data[rows])
    return pd.DataFrame(components, columns=[f"x{i}" for i in range(8)]), digits.target[rows]


def digits_anchor(
    holdout_fraction: float, seed: int = 0, rare_digit: int = RARE_DIGIT
) -> tuple[AnchorSplit, np.ndarray, np.ndarray]:
    """The thinned digits as anchor records, split as the pipeline splits an anchor; plus the digits of each part."""
    features, digits = thinned_digits(seed=seed, rare_digit=rare_digit)
    records = as_real_records(features, origin=f"sklearn-digits@thinned:{rare_digit}:{seed}")
    held = holdout_mask(records, holdout_fraction)
    train, held_out = records[~held].reset_index(drop=True), records[held].reset_index(drop=True)
    return AnchorSplit(records, train, held_out, describe(records)), digits[~held], digits[held]


class LabelRetention:
    """The independent measure (module docstring): fitted once on a labelled train split, then applied to samples."""

    def __init__(self, train: pd.DataFrame, is_rare: np.ndarray, neighbours: int = 5) -> None:
        from sklearn.neighbors import KNeighborsClassifier

        values = train.to_numpy(dtype=np.float64)
        self.columns = list(train.columns)
        self.centre, self.scale = values.mean(axis=0), values.std(axis=0) + 1e-12
        self.real_share = float(np.mean(is_rare))
        self.classifier = KNeighborsClassifier(n_neighbors=neighbours).fit((values - self.centre) / self.scale, is_rare)

    def __call__(self, samples: pd.DataFrame) -> float:
        values = samples[self.columns].to_numpy(dtype=np.float64)
        return float(self.classifier.predict((values - self.centre) / self.scale).mean() / self.real_share)


def collapse_chain(
    generations: int, temperature: float, seed: int = 0, samples_per_generation: int = 1500
) -> pd.DataFrame:
    """``replace`` on the thinned digits: each model trains on the previous one's samples (temperature < 1 is the
    sampling bias that drives collapse). Per generation: rare-region retention, tail coverage, rare-mode retention
    and the label measure."""
    features, digits = thinned_digits(seed=seed)
    held = np.random.default_rng(seed).random(len(features)) < 0.2
    train, held_out = features[~held].reset_index(drop=True), features[held].reset_index(drop=True)
    label = LabelRetention(train, digits[~held] == RARE_DIGIT)
    settings = EvaluationParams()
    region = tail_region(train, settings.knn_k, settings.tail_quantile, settings.rarity_mass)
    modes = anchor_modes(train, rare_share=settings.rare_share)
    regions = rare_regions(train, settings.rare_share, settings.knn_k)
    rows, data = [], train
    for generation in range(generations + 1):
        model = GaussianMixtureGenerator(components=12, epochs=150)
        model.fit(data, seed * 100 + generation)
        measured = model.sample(3000, DecodingParams(), seed * 100 + generation + 50)
        rows.append(
            {
                "generation": generation,
                **rare_region_metrics(regions, measured),
                "tail_coverage": tail_coverage(region, measured, held_out),
                **rare_mode_metrics(modes, measured, held_out),
                "label_retention": label(measured),
            }
        )
        data = model.sample(samples_per_generation, DecodingParams(temperature=temperature), seed * 100 + generation)
    return pd.DataFrame(rows)
