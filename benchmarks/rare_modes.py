"""Rare-region retention against an independent label measure, on real tables with a rare class.

Prints
1. healthy values on the embedded default: fresh real samples and the default model trained on real data only,
   for the three early-collapse metrics (mean and standard error over seeds);
2. per validation table (scikit-learn's digits, 8 principal components, one digit thinned to 2.5 %: digit 0, then
   digit 6; tests/rare_class.py) and over several thinning draws: the experiment's own chains
   (collapse_guard.pipeline.experiment: the guarded run's curation, mixing, model and evaluation) for ``replace``
   at three temperatures, ``accumulate`` and ``fixed-ratio`` at 0.3, each generation's metrics beside the label
   measure (tests/rare_class.py: a 5-NN rare-or-not classifier fitted on the labelled train split). Then, per
   table: Pearson and Spearman correlation of each metric with the label measure, 95 % intervals from a bootstrap
   over chains; the value at generation 0 (the model trained on real data alone) against the label measure; the
   held-out check (5-fold cross-fit on each draw: every real record is scored once by regions built without it;
   ≈ 1 is right); and the regions found, with how many of their records are the rare class;
3. scikit-learn's other bundled labelled tables (breast cancer, wine, iris), each class thinned to 3.5 %: how many
   rare regions are found (none: they are too small to hold a rare class as a mode of its own).
Draws docs/figures/rare_regions.png (each metric against the label measure).

Run from the repository root: `OMP_NUM_THREADS=1 python benchmarks/rare_modes.py [--draws 4 --generations 5]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collapse_guard.config import DecodingParams, EvaluationParams  # noqa: E402
from collapse_guard.modality.registry import load_params, modality_for  # noqa: E402
from collapse_guard.pipeline.experiment import ChainSpec, simulate_under  # noqa: E402
from collapse_guard.records.provenance import feature_columns  # noqa: E402
from collapse_guard.tabular.default_data import sample_default  # noqa: E402
from collapse_guard.tabular.gmm import GaussianMixtureGenerator  # noqa: E402
from collapse_guard.tabular.metrics.modes import anchor_modes, rare_mode_metrics  # noqa: E402
from collapse_guard.tabular.metrics.regions import rare_region_metrics, rare_regions  # noqa: E402
from collapse_guard.tabular.metrics.tails import tail_coverage, tail_region  # noqa: E402
from tests.rare_class import LabelRetention, digits_anchor, thinned_digits  # noqa: E402

METRICS = ("rare_region_retention", "tail_coverage", "rare_mode_retention")
CHAINS = (  # (policy, real fraction, temperature the next generation's data is sampled at)
    ("replace", None, 0.6),
    ("replace", None, 0.8),
    ("replace", None, 1.0),
    ("accumulate", None, 0.8),
    ("fixed-ratio", 0.3, 0.8),
)
HEALTHY_SEEDS = 8


def healthy_values() -> pd.DataFrame:
    settings = EvaluationParams()
    anchor = sample_default(3200, 0.025, np.random.default_rng(7))
    held_out = sample_default(800, 0.025, np.random.default_rng(8))
    region = tail_region(anchor, settings.knn_k, settings.tail_quantile, settings.rarity_mass)
    modes = anchor_modes(anchor, rare_share=settings.rare_share)
    regions = rare_regions(anchor, settings.rare_share, settings.knn_k)
    rows = []
    for seed in range(HEALTHY_SEEDS):
        fresh = sample_default(settings.sample_size, 0.025, np.random.default_rng(100 + seed))
        model = GaussianMixtureGenerator()
        model.fit(anchor, seed)
        sampled = model.sample(settings.sample_size, DecodingParams(), 200 + seed)
        for source, samples in (("real samples", fresh), ("model trained on real only", sampled)):
            rows.append(
                {
                    "source": source,
                    "rare_region_retention": rare_region_metrics(regions, samples)["rare_region_retention"],
                    "tail_coverage": tail_coverage(region, samples, held_out),
                    "rare_mode_retention": rare_mode_metrics(modes, samples, held_out)["rare_mode_retention"],
                }
            )
    table = pd.DataFrame(rows).groupby("source")
    return pd.concat({"mean": table.mean(), "se": table.std() / np.sqrt(HEALTHY_SEEDS)}, axis=1)


def ten_class_labeller(train: pd.DataFrame, digits: np.ndarray, rare_digit: int):
    """The other convention for the label measure: a 10-class 5-NN vote in raw units (plurality)."""
    from sklearn.neighbors import KNeighborsClassifier

    classifier = KNeighborsClassifier(n_neighbors=5).fit(train.to_numpy(), digits)
    real_share = float((digits == rare_digit).mean())
    return lambda samples: (
        float((classifier.predict(samples[train.columns].to_numpy()) == rare_digit).mean()) / (real_share)
    )


def run_table(rare_digit: int, draws: range, generations: int, synthetic: int, sample_size: int) -> pd.DataFrame:
    """Every chain's generations on the digits with ``rare_digit`` thinned, for each thinning draw."""
    overrides = {"evaluation.distribution_metrics": False, "evaluation.sample_size": sample_size}
    params = load_params(ROOT / "params.yaml", overrides)
    modality = modality_for(params)
    rows = []
    for draw in draws:
        anchor, train_digits, _ = digits_anchor(params.data.holdout_fraction, seed=draw, rare_digit=rare_digit)
        columns = feature_columns(anchor.train)
        label = LabelRetention(anchor.train[columns], train_digits == rare_digit)
        ten_class = ten_class_labeller(anchor.train[columns], train_digits, rare_digit)
        started = time.process_time()
        for policy, fraction, temperature in CHAINS:
            spec = ChainSpec(policy, draw, generations, synthetic, real_fraction=fraction, keep_samples=True)
            result = simulate_under(params, spec, anchor, modality, DecodingParams(temperature=temperature))
            for row in result.rows:
                samples = result.samples[row["generation"]]
                rows.append(
                    {
                        "draw": draw,
                        "chain": f"{policy}@{temperature}",
                        "generation": row["generation"],
                        **{metric: row.get(metric, np.nan) for metric in METRICS},
                        "rare_regions": row.get("rare_regions", 0.0),
                        "label_retention": label(samples),
                        "label_retention_10_class": ten_class(samples),
                    }
                )
        print(f"  digit {rare_digit}, draw {draw}: {time.process_time() - started:.0f} s CPU", flush=True)
    return pd.DataFrame(rows)


def correlations(table: pd.DataFrame, label: str, boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Pearson and Spearman of each metric with ``label``, with 95 % intervals from resampling whole chains."""
    keys = table[["draw", "chain"]].drop_duplicates().to_numpy()
    groups = {tuple(key): frame for key, frame in table.groupby(["draw", "chain"])}
    rng = np.random.default_rng(seed)
    rows = []
    for metric in METRICS:
        point = _pair(table, metric, label)
        samples = []
        for _ in range(boot):
            picked = pd.concat([groups[tuple(keys[i])] for i in rng.integers(len(keys), size=len(keys))])
            samples.append(_pair(picked, metric, label))
        low, high = np.nanpercentile(np.array(samples), [2.5, 97.5], axis=0)
        per_draw = [_pair(frame, metric, label)[0] for _, frame in table.groupby("draw")]
        rows.append(
            {
                "metric": metric,
                "pearson": f"{point[0]:.3f} [{low[0]:.3f}, {high[0]:.3f}]",
                "spearman": f"{point[1]:.3f} [{low[1]:.3f}, {high[1]:.3f}]",
                "pearson per draw (min..max)": f"{np.nanmin(per_draw):.2f}..{np.nanmax(per_draw):.2f}",
                "points": int(table[metric].notna().sum()),
            }
        )
    return pd.DataFrame(rows).set_index("metric")


def _pair(frame: pd.DataFrame, metric: str, label: str) -> tuple[float, float]:
    both = frame[[metric, label]].dropna()
    if len(both) < 3 or both[metric].std() == 0:
        return float("nan"), float("nan")
    return float(both[metric].corr(both[label])), float(both[metric].corr(both[label], method="spearman"))


def cross_fitted(rare_digit: int, draw: int, folds: int = 5) -> dict[str, object]:
    """Held-out real records as the samples: each fold scored by regions built on the other folds, pooled (≈ 1 is
    right). The folds are stratified by the label (the check is about the measure, not about how many rare records
    a random fold happens to hold); a fold whose other folds yield no rare region is left out and counted. Also the
    regions built on the whole draw, with how many of their records are the rare digit."""
    from sklearn.model_selection import StratifiedKFold

    settings = EvaluationParams()
    features, digits = thinned_digits(seed=draw, rare_digit=rare_digit)
    rare = digits == rare_digit
    placed = expected = 0.0
    without = 0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=draw).split(features, rare):
        regions = rare_regions(features.iloc[train], settings.rare_share, settings.knn_k)
        if not regions.count:
            without += 1
            continue
        placed += regions.shares(features.iloc[test]).sum() * len(test)
        expected += regions.real_shares.sum() * len(test)
    whole = rare_regions(features, settings.rare_share, settings.knn_k)
    found = []
    for region in range(whole.count):
        members = whole.region == region
        found.append(f"{int(members.sum())} ({int(rare[members].sum())} rare)")
    return {
        "draw": draw,
        "held-out retention (5-fold)": placed / expected if expected else float("nan"),
        "folds without a region": without,
        "regions found (records, of them the rare digit)": ", ".join(found) or "none",
        "rare digit records": int(rare.sum()),
    }


def generation_zero(table: pd.DataFrame) -> pd.DataFrame:
    """The model trained on real data alone (generation 0 of every chain: one model per draw)."""
    first = table[table["generation"] == 0].drop_duplicates("draw")
    out = first[["draw", "label_retention", "rare_region_retention", "label_retention_10_class", "tail_coverage"]]
    return out.assign(difference=out["rare_region_retention"] - out["label_retention"]).set_index("draw")


def other_bundled_tables(share: float = 0.035) -> pd.DataFrame:
    """Why the validation has no second data set: scikit-learn's other bundled labelled tables (breast cancer,
    wine, iris: 150 to 569 records), each class in turn thinned to ``share`` and the table standardised. The rare
    class then has 4 to 13 records, and no rare region is found in them (a group must be at least ``knn_k``
    records that a density clustering and a mixture both isolate)."""
    from sklearn.datasets import load_breast_cancer, load_iris, load_wine

    settings = EvaluationParams()
    rows = []
    for name, data in (("breast cancer", load_breast_cancer()), ("wine", load_wine()), ("iris", load_iris())):
        for rare_class in np.unique(data.target):
            common = np.flatnonzero(data.target != rare_class)
            keep = round(share * len(common) / (1 - share))
            picked = np.random.default_rng(0).choice(np.flatnonzero(data.target == rare_class), keep, replace=False)
            chosen = np.sort(np.concatenate([common, picked]))
            table = pd.DataFrame(data.data[chosen], columns=[f"x{i}" for i in range(data.data.shape[1])])
            regions = rare_regions(table, settings.rare_share, settings.knn_k)
            rare = data.target[chosen] == rare_class
            rows.append(
                {
                    "table": name,
                    "rare class": data.target_names[rare_class],
                    "records": len(chosen),
                    "rare records": keep,
                    "rare regions": regions.count,
                    "rare records in them": int(rare[regions.region >= 0].sum()),
                }
            )
    return pd.DataFrame(rows)


def draw_figure(tables: dict[str, pd.DataFrame], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(tables), len(METRICS), figsize=(4 * len(METRICS), 3.6 * len(tables)), squeeze=False, sharex=True
    )
    for row, (name, table) in enumerate(tables.items()):
        for col, metric in enumerate(METRICS):
            ax = axes[row][col]
            ax.scatter(table["label_retention"], table[metric], s=6, alpha=0.5)
            top = max(1.3, float(np.nanmax(table[["label_retention", metric]].to_numpy())))
            ax.plot([0, top], [0, top], color="grey", lw=0.6)
            ax.set_title(f"{name}: {metric}", fontsize=9)
            ax.set_xlabel("label retention (rare digit kept)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4, help="thinning draws per table")
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--synthetic", type=int, default=800, help="synthetic records per generation")
    parser.add_argument("--sample-size", type=int, default=3000, help="model samples per evaluation")
    parser.add_argument("--digits", type=int, nargs="+", default=[0, 6], help="the rare digit of each table")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/figures/rare_regions.png")
    args = parser.parse_args()
    pd.set_option("display.width", 220)
    started = time.process_time()
    print(f"load average {os.getloadavg()[0]:.1f}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"\n1. embedded default, {HEALTHY_SEEDS} seeds (mean, standard error):")
    print(healthy_values().round(3).to_string())
    tables = {}
    for rare_digit in args.digits:
        print(f"\n2. digits, 8 principal components, digit {rare_digit} thinned to 2.5 %:", flush=True)
        table = tables[f"digit {rare_digit}"] = run_table(
            rare_digit, range(args.draws), args.generations, args.synthetic, args.sample_size
        )
        print(
            f"\n   correlation with the label measure ({len(table)} evaluations, {args.draws} draws x "
            f"{len(CHAINS)} chains x {args.generations + 1} generations):"
        )
        print(correlations(table, "label_retention").to_string())
        print("\n   with the 10-class label convention (raw units, plurality vote):")
        print(correlations(table, "label_retention_10_class", boot=200).to_string())
        zero = generation_zero(table)
        print("\n   generation 0 (model trained on real data alone):")
        print(zero.round(3).to_string())
        print(
            f"   |rare_region_retention - label_retention|: mean {zero['difference'].abs().mean():.3f}, "
            f"max {zero['difference'].abs().max():.3f}"
        )
        print("\n   held-out real records as samples, and the regions found:")
        print(
            pd.DataFrame([cross_fitted(rare_digit, draw) for draw in range(args.draws)]).round(3).to_string(index=False)
        )
    print("\n3. scikit-learn's other bundled labelled tables, each class thinned to 3.5 %:")
    print(other_bundled_tables().to_string(index=False))
    draw_figure(tables, args.figure)
    print(
        f"\nfigure: {os.path.relpath(args.figure, ROOT)}; total {time.process_time() - started:.0f} s CPU; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
