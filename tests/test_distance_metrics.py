import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.default_data import sample_default
from collapse_guard.metrics.distance import distribution_metrics, median_bandwidth, mmd2_unbiased, vendi_score


@pytest.fixture(scope="module")
def reference():
    return sample_default(3000, 0.025, np.random.default_rng(0))


def test_samples_from_the_real_distribution_score_as_ideal(reference):
    m = distribution_metrics(sample_default(3000, 0.025, np.random.default_rng(1)), reference, seed=0)
    assert m["precision"] > 0.97 and m["recall"] > 0.97
    assert m["density"] == pytest.approx(1.0, abs=0.08) and m["coverage"] > 0.93
    assert abs(m["mmd2"]) < 3e-3 and m["wasserstein"] < 0.06


def test_losing_the_rare_modes_lowers_recall_coverage_and_diversity(reference):
    rng = np.random.default_rng(2)
    full = distribution_metrics(sample_default(3000, 0.025, rng), reference, seed=0)
    lost = distribution_metrics(sample_default(3000, 0.0, rng), reference, seed=0)
    assert lost["recall"] < full["recall"] - 0.03
    assert lost["coverage"] < full["coverage"] - 0.03
    assert lost["vendi_score"] < full["vendi_score"]
    assert lost["mmd2"] > full["mmd2"]
    assert lost["precision"] > 0.97  # what is left is still realistic: fidelity is not diversity


def test_shrinking_the_variance_hurts_every_metric(reference):
    samples = sample_default(3000, 0.025, np.random.default_rng(3))
    shrunk = (samples - reference.mean()) * 0.6 + reference.mean()
    before, after = distribution_metrics(samples, reference), distribution_metrics(shrunk, reference)
    for key in ("precision", "recall", "coverage"):
        assert after[key] < before[key]
    assert after["wasserstein"] > before["wasserstein"] and after["mmd2"] > before["mmd2"]


@settings(max_examples=20, deadline=None)
@given(st.integers(5, 60), st.integers(5, 60), st.floats(0.1, 3.0), st.integers(0, 10_000))
def test_mmd2_is_symmetric_and_the_vendi_score_is_between_one_and_n(m, n, shift, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(m, 3)), rng.normal(shift, 1.0, size=(n, 3))
    h = median_bandwidth(np.vstack([x, y]))
    assert mmd2_unbiased(x, y, h) == pytest.approx(mmd2_unbiased(y, x, h), abs=1e-12)
    assert 1.0 - 1e-9 <= vendi_score(x, h) <= m + 1e-9
    assert vendi_score(np.repeat(x[:1], m, axis=0), h) == pytest.approx(1.0)  # identical samples: one effective


def test_mmd2_standard_error_at_the_subsample_size_is_about_a_thousandth():
    rng = np.random.default_rng(4)
    values = [mmd2_unbiased(rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2)), 1.0) for _ in range(8)]
    assert abs(np.mean(values)) < 1e-3 and np.std(values) < 2e-3


def test_metrics_respect_the_reference_columns_order(reference):
    swapped = sample_default(500, 0.025, np.random.default_rng(5))[["x1", "x0"]]
    assert distribution_metrics(swapped, reference)["precision"] > 0.9
    assert isinstance(distribution_metrics(pd.DataFrame(swapped), reference)["vendi_score"], float)
