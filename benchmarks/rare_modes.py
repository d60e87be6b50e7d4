"""Healthy values of the early-collapse metrics and what they detect on real data with a rare class.

Prints (1) tail coverage and rare-mode retention on the embedded default for fresh real samples and for the
default model trained on real data only, mean ± standard error over seeds; (2) per generation of a
``replace`` chain on 8-D real digits with one digit at 2.5 % (tests/rare_class.py), both metrics beside an
independent label-based measure (a k-NN classifier trained on real labels), and their correlation with it.
Run from the repository root: `python benchmarks/rare_modes.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collapse_guard.config import DecodingParams, EvaluationParams
from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.gmm import GaussianMixtureGenerator
from collapse_guard.tabular.metrics.modes import anchor_modes, rare_mode_metrics
from collapse_guard.tabular.metrics.tails import tail_coverage, tail_region
from tests.rare_class import collapse_chain

SEEDS = 8


def healthy_values() -> pd.DataFrame:
    settings = EvaluationParams()
    anchor = sample_default(3200, 0.025, np.random.default_rng(7))
    held_out = sample_default(800, 0.025, np.random.default_rng(8))
    region = tail_region(anchor, settings.knn_k, settings.tail_quantile, settings.rarity_mass)
    modes = anchor_modes(anchor)
    rows = []
    for seed in range(SEEDS):
        fresh = sample_default(settings.sample_size, 0.025, np.random.default_rng(100 + seed))
        model = GaussianMixtureGenerator()
        model.fit(anchor, seed)
        sampled = model.sample(settings.sample_size, DecodingParams(), 200 + seed)
        for source, samples in (("real samples", fresh), ("model trained on real only", sampled)):
            rows.append(
                {
                    "source": source,
                    "tail_coverage": tail_coverage(region, samples, held_out),
                    **rare_mode_metrics(modes, samples, held_out),
                }
            )
    table = pd.DataFrame(rows).groupby("source")
    return pd.concat({"mean": table.mean(), "se": table.std() / np.sqrt(SEEDS)}, axis=1)


def draw(chains: dict[float, pd.DataFrame], path: Path) -> None:
    """Each measure by generation, one panel per temperature: the figure in the README."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(chains), figsize=(5 * len(chains), 3.5), sharey=True)
    for ax, (temperature, chain) in zip(np.atleast_1d(axes), chains.items(), strict=True):
        for column in ("label_retention", "rare_mode_retention", "tail_coverage"):
            ax.plot(chain["generation"], chain[column], marker="o", ms=3, label=column)
        ax.set_title(f"replace, digit 0 at 2.5 %, T = {temperature}")
        ax.set_xlabel("generation")
        ax.axhline(1.0, color="grey", lw=0.5)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    print(f"embedded default, {SEEDS} seeds (mean, standard error):")
    print(healthy_values().round(3).to_string())
    chains = {}
    for temperature in (0.8, 1.0):
        chain = chains[temperature] = collapse_chain(generations=8, temperature=temperature)
        print(f"\nreplace on 8-D digits, rare digit at 2.5 %, temperature {temperature}:")
        print(chain.round(3).to_string(index=False))
        correlation = chain[["tail_coverage", "rare_mode_retention", "label_retention"]].corr()["label_retention"]
        print("correlation with the label measure:", correlation.round(2).to_dict())
    draw(chains, Path(__file__).resolve().parents[1] / "docs/figures/rare_class.png")
