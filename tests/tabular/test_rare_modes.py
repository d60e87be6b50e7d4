"""Rare-mode retention and named slices: unit checks, and the early-collapse metrics validated against an
independent label-based measure on real data with a rare class (tests/rare_class.py); rare-region retention's own
checks are in test_rare_regions.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.metrics.modes import anchor_modes, rare_mode_metrics, slice_retention
from tests.rare_class import collapse_chain


def test_real_samples_keep_the_rare_modes_and_samples_without_them_lose_them():
    anchor = sample_default(4000, 0.025, np.random.default_rng(0))
    modes = anchor_modes(anchor)
    assert modes.rare.sum() >= 1
    held_out = sample_default(1000, 0.025, np.random.default_rng(1))
    real = rare_mode_metrics(modes, sample_default(4000, 0.025, np.random.default_rng(2)), held_out)
    assert 0.7 < real["rare_mode_retention"] < 1.4
    assert real["rare_modes_produced"] == real["rare_modes"]
    without = sample_default(4000, 0.025, np.random.default_rng(3))
    without = without[modes.rare[modes.assign(without)] == 0]  # drop every sample in a rare mode
    lost = rare_mode_metrics(modes, without, held_out)
    assert lost["rare_mode_retention"] == 0.0 and lost["rare_modes_produced"] == 0.0


def test_a_named_slice_is_its_share_in_samples_over_its_real_share():
    real = pd.DataFrame({"kind": ["a"] * 95 + ["rare"] * 5})
    assert slice_retention(pd.DataFrame({"kind": ["a"] * 99 + ["rare"]}), real, "kind", {"rare"}) == pytest.approx(0.2)


def test_early_collapse_metrics_track_the_rare_class_an_independent_labeller_sees():
    """Six generations of ``replace`` at temperature 0.8 on 8-D real digits with one digit at 2.5 %: the share of
    samples a real-trained k-NN classifier calls the rare digit falls, and each metric falls with it; rare-region
    retention also says how much is left (within 0.1 of the label measure at every generation)."""
    chain = collapse_chain(generations=6, temperature=0.8, samples_per_generation=1500)
    assert chain["label_retention"].iloc[-1] < 0.5 * chain["label_retention"].iloc[0]
    metrics = ["rare_region_retention", "tail_coverage", "rare_mode_retention"]
    correlation = chain[[*metrics, "label_retention"]].corr()["label_retention"]
    print(f"correlation with the label measure: {correlation.round(2).to_dict()}")
    assert correlation["rare_region_retention"] > 0.9
    assert (chain["rare_region_retention"] - chain["label_retention"]).abs().max() < 0.1
    assert correlation["tail_coverage"] > 0.6
    assert correlation["rare_mode_retention"] > 0.6
