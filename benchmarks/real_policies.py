"""What each mixing policy does on real data with a rare class, measured by an independent label.

The table is tests/rare_class.py's: scikit-learn's bundled digits, 8 principal components, digit 0 thinned to
2.5 %. Each policy runs the experiment's own chains (collapse_guard.pipeline.experiment.simulate_chain: the guarded
run's curation, mixing, model, seed schedule and the gate's real-fraction floor) under a sampling bias; a 5-NN
classifier trained on the real records *with their labels* labels each generation's evaluation samples, and the
rare digit's share among them relative to its held-out real share is `label retention` (1 = kept, 0 = gone).
Prints per policy at the last generation: label retention, the metrics the pipeline watches, the real fraction
and the generation from which the gate would have blocked the chain; draws docs/figures/real_policies.png.

Run from the repository root: `python benchmarks/real_policies.py [--generations 8] [--seeds 3]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collapse_guard.config import DecodingParams  # noqa: E402
from collapse_guard.modality.registry import load_params, modality_for  # noqa: E402
from collapse_guard.pipeline.experiment import ChainSpec, simulate_under  # noqa: E402
from collapse_guard.records.anchor import AnchorSplit, as_real_records, describe, holdout_mask  # noqa: E402
from collapse_guard.records.provenance import feature_columns  # noqa: E402
from tests.rare_class import RARE_DIGIT, thinned_digits  # noqa: E402

POLICIES = ("replace", "accumulate", "fixed-ratio", "adaptive-ratio")


def digits_anchor(holdout_fraction: float) -> tuple[AnchorSplit, np.ndarray, np.ndarray]:
    """The thinned digits as anchor records, split as the pipeline splits an anchor; plus the labels of each part."""
    features, digits = thinned_digits()
    records = as_real_records(features, origin="sklearn-digits@thinned")
    held = holdout_mask(records, holdout_fraction)
    train, held_out = records[~held].reset_index(drop=True), records[held].reset_index(drop=True)
    return AnchorSplit(records, train, held_out, describe(records)), digits[~held], digits[held]


def run(generations: int, seeds: int, temperature: float, synthetic: int) -> pd.DataFrame:
    from sklearn.neighbors import KNeighborsClassifier

    params = load_params(ROOT / "params.yaml")
    anchor, train_digits, held_digits = digits_anchor(params.data.holdout_fraction)
    columns = feature_columns(anchor.train)
    labeller = KNeighborsClassifier(n_neighbors=5).fit(anchor.train[columns].to_numpy(), train_digits)
    real_share = float((held_digits == RARE_DIGIT).mean())
    modality = modality_for(params)
    rows = []
    for policy in POLICIES:
        for seed in range(seeds):
            started = time.perf_counter()
            spec = ChainSpec(policy, seed, generations, synthetic, keep_samples=True)
            result = simulate_under(params, spec, anchor, modality, DecodingParams(temperature=temperature))
            for row in result.rows:
                samples = result.samples[row["generation"]][columns].to_numpy()
                share = float((labeller.predict(samples) == RARE_DIGIT).mean())
                rows.append({**row, "label_retention": share / real_share})
            print(f"  {policy:15s} seed {seed}: {time.perf_counter() - started:5.1f} s", flush=True)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    last = table[table["generation"] == table["generation"].max()]
    watched = ["label_retention", "rare_mode_retention", "tail_coverage", "variance_ratio", "real_fraction"]
    means = last.groupby("policy")[watched].mean()
    spread = last.groupby("policy")["label_retention"].agg(["min", "max"]).add_prefix("label_retention_")
    blocked = table[table["gate_blocked"]].groupby(["policy", "seed"])["generation"].min().groupby("policy").min()
    return means.join(spread).assign(blocked_from=blocked).reindex(list(POLICIES))


def draw(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for policy, chains in table.groupby("policy", sort=False):
        by_generation = chains.groupby("generation")
        for axis, metric in zip(axes, ("label_retention", "real_fraction"), strict=True):
            mean = by_generation[metric].mean()
            line = axis.plot(mean.index, mean.to_numpy(), marker="o", markersize=3, label=policy)[0]
            axis.fill_between(
                mean.index, by_generation[metric].min(), by_generation[metric].max(), color=line.get_color(), alpha=0.15
            )
    axes[0].axhline(1.0, color="grey", lw=0.8, ls=":")
    axes[0].set(title="rare digit kept (independent label measure)", xlabel="generation", ylabel="share / real share")
    axes[1].set(title="real fraction of the training mixture", xlabel="generation", ylabel="real fraction")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.9, help="the sampling bias each model generates with")
    parser.add_argument("--synthetic", type=int, default=800, help="synthetic records per generation")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/figures/real_policies.png")
    args = parser.parse_args()
    table = run(args.generations, args.seeds, args.temperature, args.synthetic)
    pd.set_option("display.width", 160)
    print(f"\nat generation {args.generations}, T = {args.temperature}, mean over {args.seeds} seeds:")
    print(summary(table).round(3).to_string())
    draw(table, args.figure)
    print(f"\nfigure: {args.figure.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
