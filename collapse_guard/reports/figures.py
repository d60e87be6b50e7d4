"""The experiment's figures, drawn from the tidy results table (matplotlib, no display needed).

(a) each metric against generation, per policy, with a band over seeds: "replacement grows,
    accumulation stays bounded"; (b) for 2-D data, a scatter per generation with the anchor's tail
    (the rare events) marked: "rare events disappear"; (c) the real fraction per round;
    (d) the safe zone: generations until tail coverage falls below the threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.records import atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic.atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return Path(path)


def metric_curves(table: pd.DataFrame, path: Path, labels: dict[str, str]) -> Path:
    """One panel per metric in ``labels`` (metric -> title, the modality's ``figure_metrics``) found in ``table``."""
    plt = _pyplot()
    metrics = [m for m in labels if m in table]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for policy, rows in table.groupby("policy", sort=False):
            stats = rows.groupby("generation")[metric].agg(["mean", "min", "max"])
            (line,) = ax.plot(stats.index, stats["mean"], marker="o", ms=3, label=policy)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.18)
        ax.set_xlabel("generation")
        ax.set_title(labels[metric])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("collapse metrics by generation (line: mean over seeds, band: min–max)")
    return _save(fig, path)


def rare_event_scatter(
    samples: dict[str, dict[int, pd.DataFrame]], is_rare, path: Path, generations: list[int] | None = None
) -> Path:
    """Samples per policy and generation, those ``is_rare`` marks (the anchor's rare regions) in red."""
    plt = _pyplot()
    policies = list(samples)
    last = max(max(s) for s in samples.values())
    generations = generations or sorted({0, 1, last // 2, last})
    fig, axes = plt.subplots(
        len(policies),
        len(generations),
        figsize=(3.0 * len(generations), 3.0 * len(policies)),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    for row, policy in enumerate(policies):
        for col, generation in enumerate(generations):
            ax = axes[row][col]
            frame = samples[policy].get(generation)
            if frame is None:
                ax.set_visible(False)
                continue
            rare = is_rare(frame)
            x, y = frame.columns[:2]
            ax.scatter(frame[x][~rare], frame[y][~rare], s=2, alpha=0.25, color="tab:blue")
            ax.scatter(frame[x][rare], frame[y][rare], s=6, color="tab:red", label="rare (anchor's rare regions)")
            ax.set_title(f"{policy}\ngen {generation}: {rare.mean():.1%} rare", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("model samples by generation; red = in the real anchor's rare regions (rare events)")
    return _save(fig, path)


def real_fraction(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for policy, rows in table.groupby("policy", sort=False):
        stats = rows.groupby("generation")["real_fraction"].mean()
        ax.plot(stats.index, stats.values, marker="o", ms=3, label=policy)
    ax.set_xlabel("generation")
    ax.set_ylabel("real fraction of the training mixture")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def safe_zone(zone: pd.DataFrame, generations: int, path: Path) -> Path:
    """Heat map of the median generations until tail coverage drops (white text "safe": never)."""
    plt = _pyplot()
    grid = zone.pivot_table(
        index="anchor_rows",
        columns="target_real_fraction",
        values="generations_until_below",
        aggfunc="median",
        dropna=False,
    )
    values = grid.to_numpy(dtype=float)
    shown = np.where(np.isnan(values), generations + 1, values)
    fig, ax = plt.subplots(figsize=(1.2 * grid.shape[1] + 2, 0.8 * grid.shape[0] + 1.5))
    image = ax.imshow(shown, cmap="RdYlGn", vmin=0, vmax=generations + 1, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, "safe" if np.isnan(value) else f"{value:.0f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(grid.shape[1]), [f"{c:.0%}" for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(r) for r in grid.index])
    ax.set_xlabel("real fraction of the mixture (fixed-ratio)")
    ax.set_ylabel("anchor rows")
    fig.colorbar(image, ax=ax, label="generations until tail coverage < threshold")
    ax.set_title(f"safe zone over {generations} generations")
    return _save(fig, path)


def safe_fraction(
    table: pd.DataFrame,
    metrics: tuple[str, ...],
    tolerance: float,
    r_star: float | None,
    interval: tuple[float, float],
    path: Path,
) -> Path:
    """Each headline metric after G generations relative to generation 0, against the real fraction tested
    (a dot per chain, the mean as a line), the tolerance band, and r* with its interval."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for metric in metrics:
        ratio = table[f"{metric}_end"] / table[f"{metric}_start"]
        frame = pd.DataFrame({"fraction": table["fraction"], "ratio": ratio})
        (line,) = ax.plot([], [], marker="o", ms=4, label=metric)
        ax.scatter(frame["fraction"], frame["ratio"], s=10, alpha=0.45, color=line.get_color())
        mean = frame.groupby("fraction")["ratio"].mean()
        line.set_data(mean.index, mean.values)
    ax.axhspan(1 - tolerance, 1 + tolerance, color="green", alpha=0.08, label=f"within {tolerance:.0%} of gen 0")
    if r_star is not None:
        ax.axvspan(interval[0], interval[1], color="grey", alpha=0.15, label="interval")
        ax.axvline(r_star, color="black", lw=1.5, ls="--", label=f"r* = {r_star:.2f}")
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("real fraction of the mixture (fixed-ratio target)")
    ax.set_ylabel("metric after G generations / generation 0")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
