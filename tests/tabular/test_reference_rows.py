import numpy as np
import pytest

from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.evaluation import reference_rows
from collapse_guard.tabular.metrics.distance import distribution_metrics
from tests.conftest import rare_mode_mask


def test_a_split_under_the_cap_is_used_whole():
    frame = sample_default(300, 0.025, np.random.default_rng(0))
    assert reference_rows(frame, 300) is frame


def test_a_bigger_split_is_subsampled_in_order_and_the_same_way_every_time():
    frame = sample_default(5000, 0.025, np.random.default_rng(0)).assign(order=range(5000))
    capped = reference_rows(frame, 1000)
    assert len(capped) == 1000
    assert capped["order"].is_monotonic_increasing
    assert capped.equals(reference_rows(frame, 1000))
    # a uniform subsample keeps the rare modes' share, so rare-event metrics measured against it still hold
    assert rare_mode_mask(capped).mean() == pytest.approx(rare_mode_mask(frame).mean(), abs=0.015)


def test_metrics_against_the_capped_reference_agree_with_the_whole_one():
    reference = sample_default(40_000, 0.025, np.random.default_rng(1))
    samples = sample_default(2000, 0.025, np.random.default_rng(2))
    whole = distribution_metrics(samples, reference, 0)
    capped = distribution_metrics(samples, reference_rows(reference, 10_000), 0)
    for name in ("wasserstein", "covariance_trace_ratio", "recall"):
        assert capped[name] == pytest.approx(whole[name], abs=0.05)
