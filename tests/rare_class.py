"""A real table with a rare class, and an independent label-based measure of how much of it a model keeps.

The table: scikit-learn's bundled handwritten digits (1797 images, no download), reduced to 8 principal
components, with one digit thinned to 2.5 % of the records. The measure: a k-NN classifier trained on the
real records (with their labels) labels each model's samples; the rare digit's share among the samples,
relative to its real share, is what the early-collapse metrics should track. It uses the labels, which the
metrics never see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, EvaluationParams
from collapse_guard.tabular.gmm import GaussianMixtureGenerator
from collapse_guard.tabular.metrics.modes import anchor_modes, rare_mode_metrics
from collapse_guard.tabular.metrics.tails import tail_coverage, tail_region

RARE_DIGIT = 0


def thinned_digits(rare_share: float = 0.025, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """(8 principal components as x0..x7, the digit of each record), the rare digit thinned to ``rare_share``."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    digits = load_digits()
    rng = np.random.default_rng(seed)
    common = np.flatnonzero(digits.target != RARE_DIGIT)
    rare_all = np.flatnonzero(digits.target == RARE_DIGIT)
    keep_rare = round(rare_share * len(common) / (1 - rare_share))
    rows = np.sort(np.concatenate([common, rng.choice(rare_all, size=keep_rare, replace=False)]))
    components = PCA(n_components=8, random_state=0).fit_transform(digits.data[rows])
    return pd.DataFrame(components, columns=[f"x{i}" for i in range(8)]), digits.target[rows]


def label_retention(labeller, samples: pd.DataFrame, real_share: float) -> float:
    """The independent measure: share of samples the real-trained classifier calls the rare digit, / real share."""
    return float((labeller.predict(samples.to_numpy()) == RARE_DIGIT).mean() / real_share)


def collapse_chain(
    generations: int, temperature: float, seed: int = 0, samples_per_generation: int = 1500
) -> pd.DataFrame:
    """``replace`` on the thinned digits: each model trains on the previous one's samples (temperature < 1 is the
    sampling bias that drives collapse). Per generation: tail coverage, rare-mode retention and the label
    measure, all against a held-out fifth of the real records."""
    from sklearn.neighbors import KNeighborsClassifier

    features, digits = thinned_digits(seed=seed)
    held = np.random.default_rng(seed).random(len(features)) < 0.2
    train, held_out = features[~held].reset_index(drop=True), features[held].reset_index(drop=True)
    labeller = KNeighborsClassifier(n_neighbors=5).fit(train.to_numpy(), digits[~held])
    real_share = float((digits[held] == RARE_DIGIT).mean())
    settings = EvaluationParams()
    region = tail_region(train, settings.knn_k, settings.tail_quantile, settings.rarity_mass)
    modes = anchor_modes(train)
    rows, data = [], train
    for generation in range(generations + 1):
        model = GaussianMixtureGenerator(components=12, epochs=150)
        model.fit(data, seed * 100 + generation)
        measured = model.sample(3000, DecodingParams(), seed * 100 + generation + 50)
        rows.append(
            {
                "generation": generation,
                "tail_coverage": tail_coverage(region, measured, held_out),
                **rare_mode_metrics(modes, measured, held_out),
                "label_retention": label_retention(labeller, measured, real_share),
            }
        )
        data = model.sample(samples_per_generation, DecodingParams(temperature=temperature), seed * 100 + generation)
    return pd.DataFrame(rows)
