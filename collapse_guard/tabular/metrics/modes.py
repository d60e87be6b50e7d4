"""Rare-mode coverage: early collapse measured on the anchor's own modes, so it holds up in more dimensions.

Tail coverage asks whether samples reach the anchor's sparsest points; in many dimensions every point is
sparse and the tail turns into a set of outliers rather than the rare events a user cares about. Here the
anchor's train split is clustered (k-means in standardised units, a fixed seed, built once per anchor
version); a cluster holding less than ``rare_share`` of the anchor is a *rare mode* (a small group: a rare
class, an uncommon kind of record). Samples and held-out real records are assigned to their nearest centre:

  rare_mode_retention = share of samples in the rare modes / share of held-out real records in them
                        (≈ 1 for the real distribution, → 0 as the rare modes lose their mass);
  rare_modes_produced = rare modes that still get at least a quarter of their real share of samples,
                        of ``rare_modes`` in all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PRODUCED_FRACTION = 0.25  # a rare mode counts as produced while samples give it this share of its real mass


@dataclass(frozen=True)
class ModeMap:
    """The anchor's clusters: centres in standardised units, each cluster's anchor share, and which are rare."""

    centre: np.ndarray
    scale: np.ndarray
    centroids: np.ndarray
    shares: np.ndarray
    rare: np.ndarray

    def assign(self, frame: pd.DataFrame) -> np.ndarray:
        from scipy.spatial import cKDTree

        z = (frame.to_numpy(dtype=np.float64) - self.centre) / self.scale
        return cKDTree(self.centroids).query(z, k=1)[1]


def anchor_modes(anchor: pd.DataFrame, clusters: int = 16, rare_share: float = 0.04, seed: int = 0) -> ModeMap:
    """Cluster the anchor's numeric features; clusters under ``rare_share`` of the anchor are its rare modes."""
    from scipy.cluster.vq import kmeans2

    values = anchor.to_numpy(dtype=np.float64)
    centre, scale = values.mean(axis=0), values.std(axis=0) + 1e-12
    z = (values - centre) / scale
    k = max(1, min(clusters, len(np.unique(z, axis=0))))
    centroids, labels = kmeans2(z, k, minit="++", seed=seed)
    shares = np.bincount(labels, minlength=len(centroids)) / len(z)
    keep = shares > 0  # an empty cluster is no mode
    centroids, shares = centroids[keep], shares[keep]
    return ModeMap(centre, scale, centroids, shares, shares < rare_share)


def rare_mode_metrics(modes: ModeMap, samples: pd.DataFrame, held_out: pd.DataFrame) -> dict[str, float]:
    """``rare_mode_retention``, ``rare_modes_produced`` and ``rare_modes`` (only the count without rare modes)."""
    count = int(modes.rare.sum())
    if count == 0 or samples.shape[1] == 0:
        return {"rare_modes": float(count)}
    sample_shares = np.bincount(modes.assign(samples), minlength=len(modes.shares)) / max(len(samples), 1)
    real_shares = np.bincount(modes.assign(held_out), minlength=len(modes.shares)) / max(len(held_out), 1)
    if real_shares[modes.rare].sum() == 0:  # a small held-out split can miss every rare mode: use the anchor's
        real_shares = modes.shares
    retention = sample_shares[modes.rare].sum() / real_shares[modes.rare].sum()
    # a rare mode the held-out split happens to miss is judged against its anchor share
    expected = np.where(real_shares > 0, real_shares, modes.shares)
    produced = int((sample_shares[modes.rare] >= PRODUCED_FRACTION * expected[modes.rare]).sum())
    return {"rare_mode_retention": float(retention), "rare_modes_produced": float(produced), "rare_modes": float(count)}


def slice_retention(samples: pd.DataFrame, held_out: pd.DataFrame, column: str, levels: set[str]) -> float:
    """Share of samples in ``levels`` of ``column`` / share of held-out real records in them (a named slice)."""
    real = held_out[column].astype(str).isin(levels).mean()
    return float(samples[column].astype(str).isin(levels).mean() / real) if real > 0 else float("nan")
