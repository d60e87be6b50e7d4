"""Distribution metrics between model samples and real data: fidelity, diversity and distance.

Every function takes numpy arrays (rows × features) or DataFrames of numeric features; a DataFrame of
samples is aligned to the reference's columns by name. ``distribution_metrics`` works in the
reference's standardised units (each feature centred and divided by the reference's standard
deviation) so that no feature dominates by its scale; the single metrics standardise only where their
docstring says so.

Cost, with N reference rows, M sample rows, d features:

- k-NN metrics (precision/recall, density/coverage): KD-trees, O((N + M) log(N + M)) on average, exact.
- Wasserstein: per feature O((N + M) log(N + M)); sliced: the same per projection, exact.
- covariance trace ratio: O((N + M) d).
- MMD², Vendi score: quadratic (Vendi cubic) in the rows they see, so they run on random subsamples of at
  most ``max_rows`` rows per side; the error that adds is in their docstrings and measured by
  ``benchmarks/metric_scaling.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

ArrayLike = np.ndarray | pd.DataFrame

# balls are closed; the lifted test below compares squared distances against the largest squared radius,
# so allow a relative rounding slack (far below any distance that matters in standardised units)
_BALL_SLACK = 1e-9


# --------------------------------------------------------------------------------------------- inputs


def _matrix(data: ArrayLike, columns: pd.Index | None = None) -> np.ndarray:
    """A float64 (rows × features) matrix; DataFrames are aligned to ``columns`` when given."""
    if isinstance(data, pd.DataFrame):
        frame = data if columns is None else data[list(columns)]
        return frame.to_numpy(dtype=np.float64)
    matrix = np.asarray(data, dtype=np.float64)
    return matrix.reshape(-1, 1) if matrix.ndim == 1 else matrix


def _pair(samples: ArrayLike, reference: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Samples and reference as matrices with the same columns in the same order."""
    columns = reference.columns if isinstance(reference, pd.DataFrame) else None
    x, ref = _matrix(samples, columns), _matrix(reference)
    if x.shape[1] != ref.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} features, the reference {ref.shape[1]}")
    return x, ref


def standardise(samples: ArrayLike, reference: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both in the reference's standardised units: (v − mean_ref) / std_ref, feature by feature."""
    x, ref = _pair(samples, reference)
    centre, scale = ref.mean(axis=0), ref.std(axis=0) + 1e-12
    return (x - centre) / scale, (ref - centre) / scale


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``n`` rows, drawn uniformly without replacement."""
    return x if len(x) <= n else x[rng.choice(len(x), size=n, replace=False)]


# ---------------------------------------------------------------------------------------- k-NN balls


def knn_radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance of each point to its k-th nearest *other* point (k clipped to the rows available)."""
    if len(points) < 2:
        raise ValueError("k-NN radii need at least two points")
    k = max(1, min(k, len(points) - 1))
    distance = cKDTree(points).query(points, k=k + 1)[0]
    return distance.reshape(len(points), -1)[:, -1]


def _lifted_counts(centres: np.ndarray, radii: np.ndarray, queries: np.ndarray) -> np.ndarray:
    big = float(radii.max())
    lift = np.sqrt(np.maximum(big**2 - radii**2, 0.0))
    tree = cKDTree(np.column_stack([centres, lift]))
    lifted_queries = np.column_stack([queries, np.zeros(len(queries))])
    return np.asarray(tree.query_ball_point(lifted_queries, r=big * (1 + _BALL_SLACK), return_length=True))


def ball_counts(centres: np.ndarray, radii: np.ndarray, queries: np.ndarray, factor: float = 4.0) -> np.ndarray:
    """For each query q, #{i : ‖q − cᵢ‖ ≤ rᵢ}: how many of the closed balls B(cᵢ, rᵢ) hold it. Exact.

    Balls of different radii are not a nearest-neighbour question (the nearest centre need not own the
    ball holding q), so the centres are lifted one dimension up (power-diagram lifting): with R ≥ every rᵢ,
    c′ᵢ = (cᵢ, √(R² − rᵢ²)) and q′ = (q, 0) give ‖q′ − c′ᵢ‖² = ‖q − cᵢ‖² − rᵢ² + R², so q ∈ B(cᵢ, rᵢ) ⟺
    ‖q′ − c′ᵢ‖ ≤ R: one fixed-radius KD-tree count. The tree prunes well only when the radii are alike,
    so the centres are first split into groups whose radii lie within ``factor`` of the group's largest
    (about log_factor(r_max / r_min) groups). The cost then grows with the hits (≈ k per query for matched
    distributions), not with N: O((N + M) log N) on average in low dimension.
    """
    counts = np.zeros(len(queries), dtype=np.int64)
    level = np.full(len(radii), -1, dtype=np.int64)  # zero radii (duplicate points) get a group of their own
    positive = radii > 0
    if positive.any():
        level[positive] = np.floor(np.log(radii.max() / radii[positive]) / np.log(factor)).astype(np.int64)
    for group in np.unique(level):
        chosen = level == group
        counts += _lifted_counts(centres[chosen], radii[chosen], queries)
    return counts


def precision_recall(samples: ArrayLike, reference: ArrayLike, k: int = 5) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric
    for Assessing Generative Models", eq. 1-2), in the units given (standardise first if scales differ).

    The real manifold is ∪ⱼ B(rⱼ, NN_k(rⱼ)), NN_k the distance from real point rⱼ to its k-th nearest
    other real point; the sample manifold likewise from the samples.
    precision = (1/M) Σᵢ 1[sᵢ ∈ real manifold]   (fidelity: are samples realistic?)
    recall    = (1/N) Σⱼ 1[rⱼ ∈ sample manifold]  (diversity: is the real support covered? falls first
    when modes are lost). Both in [0, 1]; ≈ 1 for matched distributions. Exact, via ``ball_counts``.
    """
    x, ref = _pair(samples, reference)
    precision = (ball_counts(ref, knn_radii(ref, k), x) > 0).mean()
    recall = (ball_counts(x, knn_radii(x, k), ref) > 0).mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(samples: ArrayLike, reference: ArrayLike, k: int = 5) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
    Models", eq. 5-6), in the units given.

    density  = 1/(kM) Σᵢ Σⱼ 1[sᵢ ∈ B(rⱼ, NN_k(rⱼ))]   (≈ 1 for matched distributions; > 1 when samples
               crowd into dense real regions; unbounded above)
    coverage = (1/N) Σⱼ 1[∃ i : sᵢ ∈ B(rⱼ, NN_k(rⱼ))]  (share of real balls holding a sample; in [0, 1])
    Both exact: density by ``ball_counts``, coverage by one nearest-sample query per real point.
    """
    x, ref = _pair(samples, reference)
    radii = knn_radii(ref, k)
    density = ball_counts(ref, radii, x).sum() / (k * len(x))
    nearest_sample = cKDTree(x).query(ref, k=1)[0]
    coverage = (nearest_sample <= radii).mean()
    return {"density": float(density), "coverage": float(coverage)}


def reference_ball_metrics(samples: ArrayLike, reference: ArrayLike, k: int = 5) -> dict[str, float]:
    """Precision, density and coverage: the three k-NN metrics built on the reference's balls."""
    x, ref = _pair(samples, reference)
    real_radii = knn_radii(ref, k)
    hits = ball_counts(ref, real_radii, x)
    nearest_sample = cKDTree(x).query(ref, k=1)[0]
    return {
        "precision": float((hits > 0).mean()),
        "density": float(hits.sum() / (k * len(x))),
        "coverage": float((nearest_sample <= real_radii).mean()),
    }


def sample_ball_metrics(samples: ArrayLike, reference: ArrayLike, k: int = 5) -> dict[str, float]:
    """Recall: the k-NN metric built on the samples' balls."""
    x, ref = _pair(samples, reference)
    return {"recall": float((ball_counts(x, knn_radii(x, k), ref) > 0).mean())}


# ------------------------------------------------------------------------------------- Wasserstein


def wasserstein_1d(u: np.ndarray, v: np.ndarray) -> float:
    """W₁ between two 1-D empirical distributions, ∫ |F_u(t) − F_v(t)| dt, exact: what
    scipy.stats.wasserstein_distance computes for unweighted samples, with one sort of the pooled values
    instead of four (the sliced distance of 50k samples against 500k reference rows takes 50 of them)."""
    if not len(u) or not len(v):
        raise ValueError("a Wasserstein distance needs two non-empty samples")
    values = np.concatenate([np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)])
    order = np.argsort(values)
    from_u = order < len(u)  # counted in integers: F_u − F_v is exact where the two agree (ties, equal samples)
    gap = np.cumsum(from_u)[:-1] / len(u) - np.cumsum(~from_u)[:-1] / len(v)
    return float(np.abs(gap) @ np.diff(values[order]))


def mean_wasserstein(samples: ArrayLike, reference: ArrayLike) -> float:
    """Per-feature Wasserstein-1, averaged: (1/d) Σⱼ W₁(P̂ⱼ, Q̂ⱼ) between the empirical marginals of
    feature j (Vaserstein 1969; Villani 2009; computed exactly as ∫ |F_P(t) − F_Q(t)| dt by
    ``wasserstein_1d``). In the units given. Cheap, but blind to dependence between features."""
    x, ref = _pair(samples, reference)
    return float(np.mean([wasserstein_1d(x[:, j], ref[:, j]) for j in range(ref.shape[1])]))


def sliced_wasserstein(samples: ArrayLike, reference: ArrayLike, projections: int = 50, rng_seed: int = 0) -> float:
    """Sliced Wasserstein-1 (Rabin et al. 2011; Bonneel et al. 2015): E_θ[W₁(θᵀP, θᵀQ)] over directions
    θ uniform on the unit sphere, estimated by the mean over ``projections`` random directions (seeded),
    each 1-D distance exact. Unlike ``mean_wasserstein`` it sees dependence between features. Monte-Carlo
    error: the standard deviation of W₁ across directions / √projections."""
    x, ref = _pair(samples, reference)
    directions = np.random.default_rng(rng_seed).standard_normal((ref.shape[1], projections))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    px, pref = x @ directions, ref @ directions
    return float(np.mean([wasserstein_1d(px[:, p], pref[:, p]) for p in range(projections)]))


def transport_metrics(samples: ArrayLike, reference: ArrayLike, projections: int = 50, rng_seed: int = 0) -> dict:
    """``mean_wasserstein`` and ``sliced_wasserstein``, in the units given."""
    return {
        "wasserstein": mean_wasserstein(samples, reference),
        "sliced_wasserstein": sliced_wasserstein(samples, reference, projections, rng_seed),
    }


# ------------------------------------------------------------------------------------------ kernels


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def median_bandwidth(points: np.ndarray) -> float:
    """Median heuristic (Gretton et al. 2012, section 8): h = median of the pairwise distances ‖xᵢ − xⱼ‖,
    i < j. Quadratic in the rows: pass a subsample. Returns 1.0 when all points coincide."""
    points = _matrix(points)
    if len(points) < 2:
        return 1.0
    d2 = _squared_distances(points, points)
    return float(np.sqrt(np.median(d2[np.triu_indices(len(points), k=1)]))) or 1.0


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Unbiased MMD² (Gretton et al. 2012, "A Kernel Two-Sample Test", eq. 3) with the Gaussian kernel
    k(a, b) = exp(−‖a − b‖² / (2h²)):
    MMD²ᵤ = 1/(m(m−1)) Σ_{i≠j} k(xᵢ, xⱼ) + 1/(n(n−1)) Σ_{i≠j} k(yᵢ, yⱼ) − 2/(mn) Σᵢⱼ k(xᵢ, yⱼ).
    Exactly symmetric in (x, y); can be slightly negative when the distributions agree (it is unbiased
    for MMD² ≥ 0). O((m + n)²) time and memory: call ``mmd2`` for the subsampled version."""
    gamma = 1.0 / (2.0 * bandwidth**2)
    kxx, kyy, kxy = (np.exp(-gamma * _squared_distances(a, b)) for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def vendi_score(x: np.ndarray, bandwidth: float) -> float:
    """Vendi score (Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric for Machine
    Learning", eq. 1): VS = exp(−Σᵢ λᵢ log λᵢ), λᵢ the eigenvalues of K/n, Kᵢⱼ = exp(−‖xᵢ − xⱼ‖²/(2h²)).
    The effective number of distinct samples: 1 when all coincide, n when all are kernel-orthogonal.
    O(n³) (eigendecomposition): call ``vendi`` for the subsampled version."""
    kernel = np.exp(-_squared_distances(x, x) / (2.0 * bandwidth**2))
    np.fill_diagonal(kernel, 1.0)  # k(x, x) = 1 exactly; the expanded distances carry rounding at large norms
    eigenvalues = np.clip(np.linalg.eigvalsh(kernel / len(x)), 0.0, None)
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    eigenvalues /= eigenvalues.sum()  # trace(K/n) = 1: keep the spectrum a distribution after clipping
    return float(np.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


def mmd2(
    samples: ArrayLike, reference: ArrayLike, max_rows: int = 1000, rng_seed: int = 0, bandwidth: float | None = None
) -> float:
    """``mmd2_unbiased`` on uniform subsamples of at most ``max_rows`` rows per side, in the units given.

    Bandwidth: the median heuristic on the reference subsample unless given, so the kernel depends on the
    reference alone and numbers from successive generations against one reference are comparable.
    Subsampling error: the estimate stays unbiased for MMD²; what it adds is variance. With n rows per
    side its standard deviation is O(1/n) when the distributions agree (a degenerate U-statistic) and
    O(1/√n) when they differ (Gretton et al. 2012, section 5). Measured on the 2-D default data at n = 1000
    (benchmarks/metric_scaling.py, against the exact value on 4000 rows): sd 4e-4 for fresh real samples,
    9e-4 with the rare modes dropped (where MMD² ≈ 3.5e-3); differences below ~3e-3 are noise.
    """
    x, ref = _pair(samples, reference)
    rng = np.random.default_rng(rng_seed)
    xs, refs = _subsample(x, max_rows, rng), _subsample(ref, max_rows, rng)
    return mmd2_unbiased(xs, refs, median_bandwidth(refs) if bandwidth is None else bandwidth)


def vendi(samples: ArrayLike, max_rows: int = 1000, rng_seed: int = 0, bandwidth: float | None = None) -> float:
    """``vendi_score`` of a uniform subsample of at most ``max_rows`` rows (bandwidth: median heuristic on
    that subsample unless given; pass the reference's to compare models).

    Subsampling error: the score of n points depends on n (it is at most n); as n grows the eigenvalues of
    K/n converge to those of the kernel's integral operator (Koltchinskii & Giné 2000), so the score
    converges to a population value. On the 2-D default data (benchmarks/metric_scaling.py) the score of
    1000 rows is within 0.5 % of the score of all 4000 on average, with a 2 % standard deviation across
    subsamples. Compare scores only at equal ``max_rows`` and bandwidth.
    """
    x = _subsample(_matrix(samples), max_rows, np.random.default_rng(rng_seed))
    return vendi_score(x, median_bandwidth(x) if bandwidth is None else bandwidth)


# --------------------------------------------------------------------------------------- moments


def covariance_trace_ratio(samples: ArrayLike, reference: ArrayLike, standardised: bool = True) -> float:
    """tr(Σ_samples) / tr(Σ_reference): total variance kept (≈ 1 healthy; → 0 in late collapse, Shumailov
    et al. 2024, section 3). With ``standardised`` each feature is first divided by the reference's standard
    deviation, so the ratio is the mean over features of var_samples / var_reference (no feature dominates
    by its units); otherwise raw units. Population (ddof = 0) variances on both sides."""
    x, ref = standardise(samples, reference) if standardised else _pair(samples, reference)
    return float(x.var(axis=0).sum() / ref.var(axis=0).sum())


# ------------------------------------------------------------------------------------------- all


DISTRIBUTION_METRICS = (
    "precision",
    "recall",
    "density",
    "coverage",
    "wasserstein",
    "sliced_wasserstein",
    "mmd2",
    "vendi_score",
    "covariance_trace_ratio",
)


def distribution_metrics(
    samples: ArrayLike,
    reference: ArrayLike,
    rng_seed: int = 0,
    k: int = 5,
    max_kernel_rows: int = 1000,
    projections: int = 50,
) -> dict[str, float]:
    """Every metric above for ``samples`` against ``reference`` (real records never trained on, ideally),
    all in the reference's standardised units.

    Keys: precision, recall, density, coverage (k-NN with ``k``, exact); wasserstein (per-feature mean);
    sliced_wasserstein (``projections`` random directions); mmd2 and vendi_score (subsampled to
    ``max_kernel_rows`` rows per side, both with the median-heuristic bandwidth of the reference
    subsample, so the kernel is the same for every model evaluated against one reference);
    covariance_trace_ratio. Deterministic given ``rng_seed``.
    """
    parts = distribution_parts(samples, reference, rng_seed, k, max_kernel_rows, projections)
    return in_documented_order({name: value for part in parts.values() for name, value in part().items()})


def in_documented_order(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics`` with the distribution metrics among them first, in ``DISTRIBUTION_METRICS``' order (their
    parts return them grouped by cost, not in that order), then the rest as they were."""
    return {**{name: metrics[name] for name in DISTRIBUTION_METRICS if name in metrics}, **metrics}


def distribution_parts(
    samples: ArrayLike,
    reference: ArrayLike,
    rng_seed: int = 0,
    k: int = 5,
    max_kernel_rows: int = 1000,
    projections: int = 50,
) -> dict[str, Callable[[], dict[str, float]]]:
    """``distribution_metrics`` as four independent parts of similar cost at large sizes (the reference's
    k-NN balls, the samples' balls, the transport distances, the kernels), each a partial over the
    standardised arrays: an evaluation can run them on different Dask workers."""
    x, ref = standardise(samples, reference)
    return {
        "reference_balls": partial(reference_ball_metrics, x, ref, k),
        "sample_balls": partial(sample_ball_metrics, x, ref, k),
        "transport": partial(transport_metrics, x, ref, projections, rng_seed),
        "kernels": partial(kernel_metrics, x, ref, rng_seed, max_kernel_rows),
    }


def kernel_metrics(x: np.ndarray, ref: np.ndarray, rng_seed: int = 0, max_kernel_rows: int = 1000) -> dict:
    """MMD² and the Vendi score on subsamples (the reference subsample's median-heuristic bandwidth), and
    the covariance trace ratio, of standardised ``x`` against ``ref``."""
    rng = np.random.default_rng(rng_seed)
    xs, refs = _subsample(x, max_kernel_rows, rng), _subsample(ref, max_kernel_rows, rng)
    bandwidth = median_bandwidth(refs)
    return {
        "mmd2": mmd2_unbiased(xs, refs, bandwidth),
        "vendi_score": vendi_score(xs, bandwidth),
        "covariance_trace_ratio": covariance_trace_ratio(x, ref, standardised=False),
    }
