"""Rare-region retention: how much of each rare mode of the anchor a model still produces.

The question early collapse asks is "how much of the rare modes is left?": 1 when a model produces them as
often as the real data does, 0 when they are gone. The older signals answer neighbouring questions.
``tail_coverage`` counts samples among the anchor's sparsest points, which mix the records of a rare group with
the edge of every common mode; ``rare_mode_retention`` counts them in small k-means cells, which also hold
common records at a big mode's edge, so it can stay above 1 while a rare class fades. Here a *rare region*
is a group of anchor records that two different readings of the anchor agree is a small mode of its own:

1. a density clustering (HDBSCAN, ``k`` as its minimum cluster size and neighbour count) separates the group
   from the rest of the anchor, and the group holds less than ``rare_share`` of it. Density alone also
   isolates the fringe of a big mode (a handful of unusual records at its edge);
2. a Gaussian mixture fitted to the anchor (full covariances, the number of components chosen by BIC; the fits
   from two components fewer to three more are all read) gives the group a component of its own, also under
   ``rare_share``: their Jaccard overlap is at least ``MIN_OVERLAP``. A mixture alone may fold a small mode into
   a neighbour's component; the fringe of a big mode belongs to that mode's component.

Every record (a model sample, a held-out record, an anchor record) is placed in the region most of its ``k``
nearest anchor records belong to, or in none (a k-NN vote: the same rule for all of them). Then

  rare_region_retention = Σ_r share of samples in r / Σ_r share of anchor records in r

(each anchor record placed by its neighbours other than itself). 1 means the model produces the rare regions
as often as the real data; 0 means none of them; above 1, it over-produces them. Regions count by their real
mass: the number is the share of the anchor's rare mass the model still makes. ``rare_regions_kept`` counts the
regions whose own ratio is still at least ``KEPT_FRACTION``, so a region lost while another is over-produced
shows; ``rare_regions`` is their number. An anchor without a rare region has nothing to lose: its retention
is NaN.

The denominator is the anchor's own share rather than the held-out split's because a held-out fifth holds too
few records of a rare mode to estimate it (a class at 2.5 % of 1,600 records leaves about 8); the vote places
each anchor record without itself, so held-out records score ≈ 1 (benchmarks/rare_modes.py measures it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

KEPT_FRACTION = 0.25  # a rare region counts as kept while samples give it this share of its real mass
MIN_OVERLAP = 0.5  # Jaccard overlap of a density cluster and a mixture component that makes them one region
MAX_COMPONENTS = 20  # the mixture's components are chosen by BIC among 1..20
FITS_BELOW, FITS_ABOVE = 2, 3  # the mixture fits read besides the BIC-best: this many components fewer, more


@dataclass(frozen=True)
class RareRegions:
    """The anchor's rare regions: its records in standardised units, the region of each (-1: none), and each
    region's real share (the share of anchor records the vote places in it)."""

    centre: np.ndarray
    scale: np.ndarray
    points: np.ndarray
    region: np.ndarray
    real_shares: np.ndarray
    k: int

    @property
    def count(self) -> int:
        return len(self.real_shares)

    def assign(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The rare region of each row of ``frame`` (-1: none): the region most of its ``k`` nearest anchor
        records belong to."""
        values = frame.to_numpy(dtype=np.float64) if isinstance(frame, pd.DataFrame) else np.asarray(frame, float)
        if len(values) == 0 or self.count == 0:
            return np.full(len(values), -1)
        neighbours = min(self.k, len(self.points))
        index = cKDTree(self.points).query((values - self.centre) / self.scale, k=neighbours)[1]
        return _vote(self.region[index.reshape(len(values), -1)], self.count)

    def shares(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Share of ``frame``'s rows in each rare region."""
        placed = self.assign(frame)
        return np.bincount(placed[placed >= 0], minlength=self.count)[: self.count] / max(len(placed), 1)


def rare_regions(
    anchor: pd.DataFrame, rare_share: float = 0.04, k: int = 5, max_rows: int = 20_000, seed: int = 0
) -> RareRegions:
    """The rare regions of ``anchor``'s numeric features (see the module docstring). An anchor over ``max_rows``
    rows is subsampled first (seeded): the density clustering and the mixture fits cost more than linear time,
    and a rare mode of a 20,000-row sample still has hundreds of records."""
    values = anchor.to_numpy(dtype=np.float64)
    if len(values) > max_rows:
        values = values[np.sort(np.random.default_rng(seed).choice(len(values), size=max_rows, replace=False))]
    centre, scale = values.mean(axis=0), values.std(axis=0) + 1e-12
    z = (values - centre) / scale
    region = np.full(len(z), -1)
    if z.shape[1] > 0 and len(z) > 2 * k:
        components = _mixture_components(z, rare_share, seed)
        kept = [group for group in _density_groups(z, rare_share, k) if _overlap(group, components) >= MIN_OVERLAP]
        for index, group in enumerate(kept):
            region[group] = index
    count = int(region.max()) + 1
    real_shares = np.zeros(0)
    if count:
        # each anchor record placed by its k nearest other records (the first neighbour is itself)
        others = cKDTree(z).query(z, k=min(k + 1, len(z)))[1][:, 1:]
        placed = _vote(region[others], count)
        real_shares = np.bincount(placed[placed >= 0], minlength=count)[:count] / len(z)
        recognised = real_shares > 0  # a region the vote places none of its own records in is no region
        if not recognised.all():
            renumber = np.cumsum(recognised) - 1
            region = np.where((region >= 0) & recognised[np.maximum(region, 0)], renumber[np.maximum(region, 0)], -1)
            real_shares = real_shares[recognised]
    return RareRegions(centre, scale, z, region, real_shares, k)


def rare_region_metrics(regions: RareRegions | None, samples: pd.DataFrame) -> dict[str, float]:
    """``rare_region_retention``, ``rare_regions_kept`` and ``rare_regions``; always all three, so the headline is
    there for every table: NaN retention without a rare region (``regions`` None: a table without numeric
    columns) or without samples."""
    count = 0 if regions is None else regions.count
    if count == 0 or len(samples) == 0:
        return {"rare_region_retention": float("nan"), "rare_regions_kept": 0.0, "rare_regions": float(count)}
    sample_shares = regions.shares(samples)
    return {
        "rare_region_retention": float(sample_shares.sum() / regions.real_shares.sum()),
        "rare_regions_kept": float((sample_shares >= KEPT_FRACTION * regions.real_shares).sum()),
        "rare_regions": float(regions.count),
    }


def _vote(labels: np.ndarray, count: int) -> np.ndarray:
    """Per row of neighbour regions, the region more than half of them belong to (-1: none has a majority)."""
    placed = np.full(len(labels), -1)
    for index in range(count):
        placed[(labels == index).sum(axis=1) * 2 > labels.shape[1]] = index
    return placed


def _density_groups(z: np.ndarray, rare_share: float, k: int) -> list[np.ndarray]:
    """HDBSCAN's clusters holding less than ``rare_share`` of the rows, as arrays of row indices."""
    from sklearn.cluster import HDBSCAN

    labels = HDBSCAN(min_cluster_size=k, min_samples=k, copy=True).fit_predict(z)
    found, sizes = np.unique(labels[labels >= 0], return_counts=True)
    small = found[sizes < rare_share * len(z)]
    return [np.flatnonzero(labels == label) for label in small]


def _mixture_components(z: np.ndarray, rare_share: float, seed: int) -> list[np.ndarray]:
    """The components holding less than ``rare_share`` of the rows (each an array of the rows it is most
    responsible for) in the Gaussian mixture fits from ``FITS_BELOW`` fewer to ``FITS_ABOVE`` more components than
    the BIC-best. The number of components stops growing four past the best so far; it is at most
    ``MAX_COMPONENTS`` and leaves every component room for a full covariance."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    n, d = z.shape
    most = max(1, min(MAX_COMPONENTS, n // (5 * (d + 1))))
    fits: dict[int, np.ndarray] = {}
    scores: dict[int, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for components in range(1, most + 1):
            mixture = GaussianMixture(
                components, covariance_type="full", reg_covar=1e-3, n_init=2, random_state=seed
            ).fit(z)
            fits[components], scores[components] = mixture.predict(z), float(mixture.bic(z))
            if components - min(scores, key=scores.get) > FITS_ABOVE:
                break
    best = min(scores, key=scores.get)
    found = []
    for components in range(max(1, best - FITS_BELOW), min(max(fits), best + FITS_ABOVE) + 1):
        labels = fits[components]
        sizes = np.bincount(labels, minlength=components)
        found += [np.flatnonzero(labels == c) for c in range(components) if 0 < sizes[c] < rare_share * n]
    return found


def _overlap(group: np.ndarray, components: list[np.ndarray]) -> float:
    """The largest Jaccard overlap of ``group`` with one of ``components``."""
    best = 0.0
    for component in components:
        shared = len(np.intersect1d(group, component, assume_unique=True))
        if shared:
            best = max(best, shared / (len(group) + len(component) - shared))
    return best
