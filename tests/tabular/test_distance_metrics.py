"""Distribution metrics: ideal on fresh real samples, worse in the right direction under collapse, and
equal to their brute-force definitions (the KD-tree versions are exact, not approximations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.metrics.distance import (
    DISTRIBUTION_METRICS,
    ball_counts,
    covariance_trace_ratio,
    density_coverage,
    distribution_metrics,
    distribution_parts,
    knn_radii,
    mean_wasserstein,
    median_bandwidth,
    mmd2,
    mmd2_unbiased,
    precision_recall,
    reference_ball_metrics,
    sample_ball_metrics,
    sliced_wasserstein,
    standardise,
    vendi,
    vendi_score,
    wasserstein_1d,
)

ROWS = 3000


def knn_metrics(samples, reference, k: int = 5) -> dict[str, float]:
    """The four k-NN metrics together, as the product computes them (reference balls, then sample balls)."""
    fidelity, diversity = reference_ball_metrics(samples, reference, k), sample_ball_metrics(samples, reference, k)
    return {name: {**fidelity, **diversity}[name] for name in ("precision", "recall", "density", "coverage")}


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return sample_default(ROWS, 0.025, np.random.default_rng(0))


@pytest.fixture(scope="module")
def healthy(reference: pd.DataFrame) -> dict[str, float]:
    return distribution_metrics(sample_default(ROWS, 0.025, np.random.default_rng(1)), reference, rng_seed=0)


def brute_force_knn(samples: np.ndarray, reference: np.ndarray, k: int) -> dict[str, float]:
    """The papers' definitions with dense distance matrices (small inputs only)."""
    rr, ss, sr = cdist(reference, reference), cdist(samples, samples), cdist(samples, reference)
    real_radii = np.sort(rr, axis=1)[:, min(k, len(reference) - 1)]
    sample_radii = np.sort(ss, axis=1)[:, min(k, len(samples) - 1)]
    inside_real = sr <= real_radii[None, :]  # samples × real balls
    return {
        "precision": inside_real.any(axis=1).mean(),
        "recall": (sr <= sample_radii[:, None]).any(axis=0).mean(),
        "density": inside_real.sum() / (k * len(samples)),
        "coverage": inside_real.any(axis=0).mean(),
    }


def points(draw: st.DrawFn, rows: int, dims: int) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    spread = rng.exponential(1.0, size=(rows, 1))  # balls of very different sizes
    x = rng.standard_normal((rows, dims)) * spread
    if draw(st.booleans()):
        x[: rows // 3] = x[0]  # exact duplicates: zero radii
    return x


@st.composite
def sample_reference_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    dims = draw(st.integers(1, 4))
    samples = points(draw, draw(st.integers(3, 80)), dims)
    reference = points(draw, draw(st.integers(3, 80)), dims)
    if draw(st.booleans()):
        shared = min(len(samples), len(reference)) // 2
        samples[:shared] = reference[:shared]  # points on ball boundaries
    return samples, reference, draw(st.integers(1, 6))


# ------------------------------------------------------------------------------------ ideal values


def test_samples_from_the_real_distribution_score_as_ideal(healthy):
    assert healthy["precision"] > 0.97 and healthy["recall"] > 0.97
    assert healthy["density"] == pytest.approx(1.0, abs=0.08) and healthy["coverage"] > 0.93
    assert abs(healthy["mmd2"]) < 3e-3
    assert healthy["wasserstein"] < 0.06 and healthy["sliced_wasserstein"] < 0.06
    assert healthy["covariance_trace_ratio"] == pytest.approx(1.0, abs=0.05)


def test_a_reference_against_itself_is_perfect(reference):
    metrics = distribution_metrics(reference, reference)
    for key in ("precision", "recall", "coverage", "covariance_trace_ratio"):
        assert metrics[key] == pytest.approx(1.0, abs=1e-9)
    assert metrics["density"] >= 1.0  # every point sits in its own ball, and in its neighbours'
    assert metrics["wasserstein"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["sliced_wasserstein"] == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------------------ collapse directions


def test_losing_the_rare_modes_lowers_recall_coverage_and_diversity(reference, healthy):
    lost = distribution_metrics(sample_default(ROWS, 0.0, np.random.default_rng(2)), reference, rng_seed=0)
    assert lost["recall"] < healthy["recall"] - 0.03
    assert lost["coverage"] < healthy["coverage"] - 0.03
    assert lost["vendi_score"] < healthy["vendi_score"]
    assert lost["mmd2"] > healthy["mmd2"] + 3e-3
    assert lost["covariance_trace_ratio"] < healthy["covariance_trace_ratio"]  # the far modes carried spread
    assert lost["precision"] > 0.97  # what is left is still realistic: fidelity is not diversity


def test_shrinking_the_variance_hurts_every_metric(reference, healthy):
    samples = sample_default(ROWS, 0.025, np.random.default_rng(3))
    shrunk = (samples - reference.mean()) * 0.6 + reference.mean()
    after = distribution_metrics(shrunk, reference, rng_seed=0)
    for key in ("precision", "recall", "coverage", "vendi_score"):
        assert after[key] < healthy[key]
    for key, margin in (("wasserstein", 0.01), ("sliced_wasserstein", 0.01), ("mmd2", 3e-3)):
        assert after[key] > healthy[key] + margin
    # every feature's variance × 0.36, up to the samples' own sampling noise
    assert after["covariance_trace_ratio"] == pytest.approx(0.36 * healthy["covariance_trace_ratio"], rel=0.05)


def test_the_more_the_collapse_the_worse_the_distance(reference):
    base = sample_default(ROWS, 0.025, np.random.default_rng(4))
    centre = reference.mean()
    scores = [
        distribution_metrics((base - centre) * factor + centre, reference, rng_seed=0) for factor in (1.0, 0.7, 0.4)
    ]
    for key in ("wasserstein", "sliced_wasserstein", "mmd2"):
        assert scores[0][key] < scores[1][key] < scores[2][key]
    for key in ("recall", "coverage", "vendi_score", "covariance_trace_ratio"):
        assert scores[0][key] > scores[1][key] > scores[2][key]


# ------------------------------------------------------------------- exact against the definitions


@settings(max_examples=60, deadline=None)
@given(sample_reference_pairs())
def test_knn_metrics_equal_the_brute_force_definitions(case):
    samples, reference, k = case
    fast = knn_metrics(samples, reference, k)
    slow = brute_force_knn(samples, reference, k)
    assert fast == pytest.approx(slow, abs=1e-12)
    assert {**precision_recall(samples, reference, k), **density_coverage(samples, reference, k)} == fast


@settings(max_examples=60, deadline=None)
@given(sample_reference_pairs())
def test_ball_counts_equal_the_dense_count(case):
    queries, centres, k = case
    radii = knn_radii(centres, k)
    assert np.array_equal(ball_counts(centres, radii, queries), (cdist(queries, centres) <= radii).sum(axis=1))


@settings(max_examples=30, deadline=None)
@given(sample_reference_pairs())
def test_precision_of_a_against_b_is_recall_of_b_against_a(case):
    a, b, k = case
    assert precision_recall(a, b, k)["precision"] == precision_recall(b, a, k)["recall"]
    for value in knn_metrics(a, b, k).values():
        assert value >= 0.0


# ---------------------------------------------------------------- symmetry, bounds and invariances


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 60), st.integers(5, 60), st.floats(0.0, 3.0), st.integers(0, 10_000))
def test_distances_are_symmetric_and_non_negative(m, n, shift, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(m, 3)), rng.normal(shift, 1.0, size=(n, 3))
    h = median_bandwidth(np.vstack([x, y]))
    assert mmd2_unbiased(x, y, h) == pytest.approx(mmd2_unbiased(y, x, h), abs=1e-12)
    assert mean_wasserstein(x, y) == pytest.approx(mean_wasserstein(y, x)) and mean_wasserstein(x, y) >= 0
    assert sliced_wasserstein(x, y, 20, seed) == pytest.approx(sliced_wasserstein(y, x, 20, seed))
    assert sliced_wasserstein(x, y, 20, seed) >= 0 and mean_wasserstein(x, x) == 0.0
    # a biased MMD² (V-statistic) is ≥ 0; the unbiased one can dip below by at most its diagonal terms
    assert mmd2_unbiased(x, y, h) > -(1.0 / (m - 1) + 1.0 / (n - 1))


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 60), st.integers(0, 10_000))
def test_the_vendi_score_is_between_one_and_n(m, seed):
    x = np.random.default_rng(seed).normal(size=(m, 3))
    h = median_bandwidth(x)
    assert 1.0 - 1e-9 <= vendi_score(x, h) <= m + 1e-9
    assert vendi_score(np.repeat(x[:1], m, axis=0), h) == pytest.approx(1.0)  # identical samples: one effective
    assert vendi_score(x * 1e6, 1.0) == pytest.approx(m, rel=1e-6)  # far apart: every sample its own


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.floats(0.01, 100.0), min_size=2, max_size=2),
    st.lists(st.floats(-100.0, 100.0), min_size=2, max_size=2),
    st.integers(0, 1000),
)
def test_metrics_do_not_depend_on_the_features_units(scale, shift, seed):
    rng = np.random.default_rng(seed)
    reference = sample_default(300, 0.025, rng).to_numpy()
    samples = sample_default(200, 0.0, rng).to_numpy() * 0.8
    plain = distribution_metrics(samples, reference, rng_seed=seed)
    moved = distribution_metrics(samples * scale + shift, reference * scale + shift, rng_seed=seed)
    assert moved == pytest.approx(plain, rel=1e-6, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.1, 3.0), st.lists(st.floats(-5, 5), min_size=3, max_size=3), st.integers(0, 1000))
def test_the_trace_ratio_scales_with_the_square_and_ignores_shifts(factor, shift, seed):
    rng = np.random.default_rng(seed)
    reference, samples = rng.normal(size=(200, 3)), rng.normal(size=(150, 3))
    base = covariance_trace_ratio(samples, reference)
    assert covariance_trace_ratio(samples * factor + np.array(shift), reference) == pytest.approx(factor**2 * base)
    assert covariance_trace_ratio(reference, reference) == pytest.approx(1.0)
    raw = covariance_trace_ratio(samples, reference * 10, standardised=False)
    assert raw == pytest.approx(covariance_trace_ratio(samples, reference, standardised=False) / 100)


# ------------------------------------------------------------------------------- subsampling, inputs


def test_mmd2_standard_error_at_the_subsample_size_is_about_a_thousandth():
    rng = np.random.default_rng(4)
    values = [mmd2_unbiased(rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2)), 1.0) for _ in range(8)]
    assert abs(np.mean(values)) < 1e-3 and np.std(values) < 2e-3


def test_subsampled_kernel_metrics_see_at_most_max_rows(reference):
    samples = sample_default(ROWS, 0.025, np.random.default_rng(6))
    assert vendi(samples, max_rows=50) <= 50
    small = [mmd2(samples, reference, max_rows=300, rng_seed=seed) for seed in range(5)]
    assert len(set(small)) == 5  # a different subsample per seed...
    assert mmd2(samples, reference, max_rows=300, rng_seed=1) == small[1]  # ...and the same for the same seed
    assert max(abs(v) for v in small) < 0.02


def test_arrays_and_frames_agree_and_columns_align_by_name(reference):
    samples = sample_default(500, 0.025, np.random.default_rng(5))
    as_frame = distribution_metrics(samples, reference, rng_seed=3)
    assert distribution_metrics(samples.to_numpy(), reference.to_numpy(), rng_seed=3) == as_frame
    assert distribution_metrics(samples[["x1", "x0"]], reference, rng_seed=3) == as_frame
    assert all(isinstance(value, float) for value in as_frame.values())
    with pytest.raises(ValueError):
        distribution_metrics(samples.to_numpy()[:, :1], reference.to_numpy())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=80),
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=80),
    st.integers(0, 3),
)
def test_the_one_dimensional_distance_equals_scipys(u, v, repeats):
    """Ties within and across the two samples included (``repeats`` copies of the first values)."""
    from scipy.stats import wasserstein_distance

    u, v = np.array(u + u[:repeats]), np.array(v + u[:repeats])
    assert wasserstein_1d(u, v) == pytest.approx(wasserstein_distance(u, v), rel=1e-9, abs=1e-9)


def test_the_distribution_metrics_are_the_union_of_their_parts_in_their_documented_order(reference):
    samples = sample_default(500, 0.0, np.random.default_rng(3))
    parts = distribution_parts(samples, reference, rng_seed=4)
    together = {name: value for part in parts.values() for name, value in part().items()}
    whole = distribution_metrics(samples, reference, rng_seed=4)
    assert list(whole) == list(DISTRIBUTION_METRICS) and together == whole
    x, ref = standardise(samples, reference)
    assert {n: whole[n] for n in ("precision", "recall", "density", "coverage")} == knn_metrics(x, ref)
