"""Tail coverage and variance ratio: the two first signs of model collapse.

Early collapse loses the tails, late collapse shrinks the variance (Shumailov et al. 2024). Both are
measured in the anchor's standardised units so that features on different scales count alike.

Tail coverage (our definition, after the k-NN balls of Kynkäänniemi et al. 2019 and Naeem et al. 2020):
  1. Rarity of an anchor point a: the radius needed to gather ``rarity_mass`` (default 3 %) of the anchor
     around it. Points of a small isolated group (a rare event) must reach past their group, so their
     radius is large; points at the edge of a big mode are not rare at that scale.
  2. The *tail* is the union of the local balls B(a, r_k(a)) (r_k: distance to the k-th nearest other
     anchor point) of the ``tail_quantile`` fraction of anchor points with the largest rarity.
  3. tail_mass(X) is the fraction of the points of X that fall inside the tail.
  4. tail_coverage = tail_mass(model samples) / tail_mass(held-out real records).
  It is ≈ 1.0 for samples drawn from the real distribution, falls towards 0 as the rare regions lose
  their mass, and rises above 1 if a model over-produces them. The held-out records are never
  trained on, so the denominator is an honest estimate of the real tail mass.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class TailRegion:
    """The anchor's tail: centres and radii of the sparsest anchor points' k-NN balls."""

    centre: np.ndarray
    scale: np.ndarray
    tail_points: np.ndarray
    tail_radii: np.ndarray

    def standardise(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        values = frame.to_numpy(dtype=np.float64) if isinstance(frame, pd.DataFrame) else frame
        return (values - self.centre) / self.scale


def tail_region(
    anchor: pd.DataFrame,
    k: int = 5,
    tail_quantile: float = 0.1,
    rarity_mass: float = 0.03,
    max_rows: int = 20_000,
    seed: int = 0,
) -> TailRegion:
    """Rarity needs the ``rarity_mass·n`` nearest neighbours of every point, which is quadratic in n, so
    anchors above ``max_rows`` are first subsampled uniformly (benchmarks/metric_scaling.py measures
    the error this adds to tail coverage).

    The region of one anchor version is asked for every generation (the evaluation's tail, and the drift
    report's on its reference rows) and costs seconds at the ``max_rows`` cap: it is remembered, keyed by the
    SHA-256 of the exact values and the settings, so equal inputs give the same region without rebuilding it."""
    values = anchor.to_numpy(dtype=np.float64)
    key = _region_key(values, k, tail_quantile, rarity_mass, max_rows, seed)
    with _regions_lock:
        region = _regions.get(key)
    if region is None:
        region = _build_region(values, k, tail_quantile, rarity_mass, max_rows, seed)
        with _regions_lock:
            _regions[key] = region
            while len(_regions) > _REGIONS_KEPT:
                _regions.pop(next(iter(_regions)))
    return region


_REGIONS_KEPT = 8  # a run needs two per anchor version (the evaluation's, the drift report's)
_regions: dict[str, TailRegion] = {}
_regions_lock = threading.Lock()


def _region_key(values: np.ndarray, *settings: object) -> str:
    digest = hashlib.sha256(repr((values.shape, settings)).encode())
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _build_region(
    values: np.ndarray, k: int, tail_quantile: float, rarity_mass: float, max_rows: int, seed: int
) -> TailRegion:
    if len(values) > max_rows:
        values = values[np.random.default_rng(seed).choice(len(values), size=max_rows, replace=False)]
    centre, scale = values.mean(axis=0), values.std(axis=0) + 1e-12
    z = (values - centre) / scale
    k = min(k, len(z) - 1)
    big_k = min(max(k, int(np.ceil(rarity_mass * len(z)))), len(z) - 1)
    # +1 because the nearest neighbour of an anchor point is itself
    distances = cKDTree(z).query(z, k=[k + 1, big_k + 1])[0]
    local_radius, rarity = distances[:, 0], distances[:, 1]
    in_tail = rarity >= np.quantile(rarity, 1.0 - tail_quantile)
    return TailRegion(centre=centre, scale=scale, tail_points=z[in_tail], tail_radii=local_radius[in_tail])


def tail_mass(region: TailRegion, frame: pd.DataFrame | np.ndarray) -> float:
    """Fraction of ``frame``'s points inside at least one tail ball."""
    inside = inside_tail(region, frame)
    return float(inside.mean()) if len(inside) else 0.0


def tail_coverage(region: TailRegion, samples: pd.DataFrame, held_out_real: pd.DataFrame) -> float:
    real = tail_mass(region, held_out_real)
    return tail_mass(region, samples) / real if real > 0 else float("nan")


def variance_ratio(samples: pd.DataFrame, reference: pd.DataFrame) -> float:
    """tr(Σ_samples) / tr(Σ_reference), in the reference's standardised units: 1.0 when spread is kept."""
    ref = reference.to_numpy(dtype=np.float64)
    scale = ref.std(axis=0) + 1e-12
    return float((samples.to_numpy(dtype=np.float64) / scale).var(axis=0).sum() / (ref / scale).var(axis=0).sum())


def inside_tail(region: TailRegion, frame: pd.DataFrame | np.ndarray, neighbours: int = 16) -> np.ndarray:
    """Which points of ``frame`` fall inside the tail (for plots that mark the rare events)."""
    z = region.standardise(frame)
    if len(z) == 0:
        return np.zeros(0, dtype=bool)
    neighbours = min(neighbours, len(region.tail_points))
    distance, index = cKDTree(region.tail_points).query(z, k=neighbours)
    distance, index = distance.reshape(len(z), -1), index.reshape(len(z), -1)
    # balls differ in size, so the nearest centre is not always the one whose ball holds the point
    return (distance <= region.tail_radii[index]).any(axis=1)
