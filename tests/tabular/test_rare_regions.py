"""Rare-region retention: its limits (held-out real data ≈ 1, no rare record 0, half the rare mass ≈ 0.5), regions
made of rare records, and properties that must hold for any samples (order, duplication, bounds)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.tabular.default_data import COMMON_MODES, RARE_MODES, sample_default
from collapse_guard.tabular.metrics.regions import RareRegions, rare_region_metrics, rare_regions
from tests.rare_class import RARE_DIGIT, thinned_digits


@cache
def default_regions() -> RareRegions:
    return rare_regions(sample_default(4000, 0.025, np.random.default_rng(0)))


def from_rare_mode(frame: pd.DataFrame) -> np.ndarray:
    """Which rows of embedded-default data came from a rare mode (the nearest mode centre is a rare one)."""
    centres = np.array([centre for centre, _ in COMMON_MODES + RARE_MODES])
    nearest = np.argmin(((frame.to_numpy()[:, None, :] - centres[None]) ** 2).sum(axis=-1), axis=1)
    return nearest >= len(COMMON_MODES)


def test_every_rare_mode_is_a_region_of_rare_records_only():
    anchor = sample_default(4000, 0.025, np.random.default_rng(0))
    regions = default_regions()
    assert regions.count == len(RARE_MODES)
    members = regions.region >= 0
    assert from_rare_mode(anchor)[members].all()  # nothing but rare records in the regions
    assert members.sum() >= 0.9 * from_rare_mode(anchor).sum()  # and most rare records are in one


def test_held_out_real_data_scores_one_and_samples_without_rare_records_zero():
    regions = default_regions()
    real = rare_region_metrics(regions, sample_default(20_000, 0.025, np.random.default_rng(1)))
    assert real["rare_region_retention"] == pytest.approx(1.0, abs=0.1)
    assert real["rare_regions_kept"] == real["rare_regions"] == 3
    half = rare_region_metrics(regions, sample_default(20_000, 0.0125, np.random.default_rng(2)))
    assert half["rare_region_retention"] == pytest.approx(0.5, abs=0.1)
    gone = rare_region_metrics(regions, sample_default(20_000, 0.0, np.random.default_rng(3)))
    assert gone["rare_region_retention"] == 0.0 and gone["rare_regions_kept"] == 0


def test_one_lost_region_shows_in_the_count_kept_even_when_the_others_make_up_its_mass():
    regions = default_regions()
    samples = sample_default(20_000, 0.025, np.random.default_rng(4))
    placed = regions.assign(samples)
    lost = placed == 0
    tripled = samples[placed == 1]
    doctored = pd.concat([samples[~lost], tripled, tripled], ignore_index=True)
    measured = rare_region_metrics(regions, doctored)
    assert measured["rare_regions_kept"] == 2 and measured["rare_regions"] == 3
    assert measured["rare_region_retention"] > 0.8  # the pooled mass alone would not tell


def test_an_anchor_without_a_rare_group_has_nothing_to_lose():
    blob = pd.DataFrame(np.random.default_rng(5).standard_normal((2000, 3)), columns=["a", "b", "c"])
    regions = rare_regions(blob)
    measured = rare_region_metrics(regions, blob)
    assert regions.count == 0 and measured["rare_regions"] == 0 and np.isnan(measured["rare_region_retention"])
    assert np.isnan(rare_region_metrics(None, blob)["rare_region_retention"])


def test_on_real_digits_the_region_is_the_thinned_digit():
    features, digits = thinned_digits()
    regions = rare_regions(features)
    assert regions.count >= 1
    rare = digits == RARE_DIGIT
    in_regions = regions.region >= 0
    assert rare[in_regions].mean() >= 0.9  # mostly the rare digit
    assert in_regions[rare].mean() >= 0.75  # most of the rare digit


samples_seed = st.integers(0, 10_000)
sizes = st.integers(200, 3000)
rare_weights = st.floats(0.0, 0.05)


@settings(max_examples=25, deadline=None)
@given(seed=samples_seed, size=sizes, weight=rare_weights)
def test_order_does_not_matter_and_duplicating_every_sample_changes_nothing(seed: int, size: int, weight: float):
    regions = default_regions()
    samples = sample_default(size, weight, np.random.default_rng(seed))
    measured = rare_region_metrics(regions, samples)
    shuffled = samples.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    assert rare_region_metrics(regions, shuffled) == measured
    assert rare_region_metrics(regions, pd.concat([samples, samples], ignore_index=True)) == measured


@settings(max_examples=25, deadline=None)
@given(seed=samples_seed, size=sizes, weight=rare_weights, copies=st.integers(1, 20))
def test_retention_is_bounded_and_grows_with_every_rare_sample_added(seed: int, size: int, weight: float, copies: int):
    regions = default_regions()
    samples = sample_default(size, weight, np.random.default_rng(seed))
    measured = rare_region_metrics(regions, samples)
    assert 0.0 <= measured["rare_region_retention"] <= 1.0 / regions.real_shares.sum()
    assert 0 <= measured["rare_regions_kept"] <= measured["rare_regions"]
    placed = regions.assign(samples) >= 0
    if placed.any():  # duplicating rare samples (a model over-producing them) never lowers retention
        more = pd.concat([samples, *[samples[placed]] * copies], ignore_index=True)
        assert rare_region_metrics(regions, more)["rare_region_retention"] >= measured["rare_region_retention"]
