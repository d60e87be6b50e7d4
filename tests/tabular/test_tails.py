import numpy as np
import pandas as pd
import pytest

from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.metrics.tails import tail_coverage, tail_mass, tail_region, variance_ratio
from tests.conftest import rare_mode_mask


@pytest.fixture(scope="module")
def region_and_holdout():
    rng = np.random.default_rng(0)
    anchor = sample_default(3200, 0.025, rng)
    return tail_region(anchor, k=5, tail_quantile=0.05), sample_default(800, 0.025, rng), anchor


def test_tail_coverage_is_near_one_for_real_samples(region_and_holdout):
    region, held_out, _ = region_and_holdout
    fresh = sample_default(20_000, 0.025, np.random.default_rng(1))
    assert tail_coverage(region, fresh, held_out) == pytest.approx(1.0, abs=0.15)


def test_tail_coverage_falls_as_the_rare_modes_lose_mass(region_and_holdout):
    region, held_out, _ = region_and_holdout
    rng = np.random.default_rng(2)
    values = [tail_coverage(region, sample_default(20_000, w, rng), held_out) for w in (0.025, 0.0125, 0.0)]
    assert values[0] > values[1] > values[2]
    assert values[1] == pytest.approx(0.5, abs=0.15)  # half the rare mass, about half the coverage
    assert values[2] < 0.1


def test_the_tail_is_made_of_the_rare_modes(region_and_holdout):
    region, _, anchor = region_and_holdout
    import pandas as pd

    tail_points = pd.DataFrame(region.tail_points * region.scale + region.centre, columns=["x0", "x1"])
    assert rare_mode_mask(tail_points).mean() > 0.9
    assert tail_mass(region, anchor.iloc[:0]) == 0.0


def test_variance_ratio_tracks_spread():
    rng = np.random.default_rng(3)
    reference = sample_default(5000, 0.025, rng)
    assert variance_ratio(sample_default(5000, 0.025, rng), reference) == pytest.approx(1.0, abs=0.05)
    assert variance_ratio(reference * 0.5, reference) == pytest.approx(0.25, abs=1e-9)


def test_a_tail_region_is_remembered_only_for_the_same_values_and_settings():
    from collapse_guard.tabular.metrics import tails

    frame = pd.DataFrame(np.random.default_rng(3).normal(size=(400, 2)), columns=["a", "b"])
    first = tails.tail_region(frame, k=3, tail_quantile=0.1)
    assert tails.tail_region(frame.copy(), k=3, tail_quantile=0.1) is first  # equal bytes: not rebuilt
    fresh = tails._build_region(frame.to_numpy(dtype=np.float64), 3, 0.1, 0.03, 20_000, 0)
    assert np.array_equal(first.tail_points, fresh.tail_points) and np.array_equal(first.tail_radii, fresh.tail_radii)
    moved = frame.copy()
    moved.iloc[0, 0] += 1e-9
    assert tails.tail_region(moved, k=3, tail_quantile=0.1) is not first
    assert tails.tail_region(frame, k=4, tail_quantile=0.1) is not first
