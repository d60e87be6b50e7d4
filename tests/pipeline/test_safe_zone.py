"""The safe-zone search against the full sweep: on two data sets through the product's chain, and on curves
whose answer is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collapse_guard import theory
from collapse_guard.config import Params, SafeZoneParams
from collapse_guard.modality.registry import modality_for
from collapse_guard.pipeline import safe_zone
from collapse_guard.pipeline.theory_checks import anchor_of

METRICS = ("tail_coverage", "variance_ratio")


def gaussian_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    return theory.gaussian_data(300, 3, 1.0, rng), theory.gaussian_data(100, 3, 1.0, rng)


def diabetes_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    """scikit-learn's bundled diabetes table (442 patients, 10 measurements): real data nobody here wrote."""
    from sklearn.datasets import load_diabetes

    table = load_diabetes(as_frame=True).data
    return table.iloc[:340].reset_index(drop=True), table.iloc[340:].reset_index(drop=True)


def chain_runner(real: tuple[pd.DataFrame, pd.DataFrame]):
    """The product's fixed-ratio chain with a Gaussian model sampled at temperature 0.7 (a sampling bias that
    collapses the spread unless real data holds it), remembered per (fraction, seed): the sweep reuses the
    search's chains, as it would compute the same ones."""
    params = Params.model_validate(
        {
            "model": {"class": "collapse_guard.theory:GaussianGenerator", "options": {"estimator": "mle"}},
            "decoding": {"temperature": 0.7},
            "generation": {"synthetic_per_generation": 100},
            "evaluation": {"sample_size": 400},
            "experiment": {"safe_zone": {"generations": 5, "seeds": 4, "tolerance": 0.1}},
        }
    )
    params = safe_zone.search_params(params)
    modality = modality_for(params)
    anchor = anchor_of(*real)
    done: dict[tuple[float, int], safe_zone.ChainOutcome] = {}

    def run(fraction: float, seeds: list[int]) -> list[safe_zone.ChainOutcome]:
        for seed in seeds:
            if (fraction, seed) not in done:
                done[(fraction, seed)] = safe_zone.run_chain(params, anchor, modality, fraction, seed)
        return [done[(fraction, seed)] for seed in seeds]

    return params, modality, run


@pytest.mark.parametrize("table", [gaussian_table, diabetes_table], ids=["gaussian", "diabetes"])
def test_the_search_lands_within_a_step_of_the_full_sweep_at_a_fifth_of_its_fits(table):
    params, modality, run = chain_runner(table())
    settings = params.experiment.safe_zone
    found = safe_zone.search(run, settings, modality.headline)
    full = safe_zone.sweep(run, settings, modality.headline)
    assert full.certified and found.certified
    assert 0.05 < full.r_star < 1  # the data sets have a threshold to find: not the first or the last fraction
    assert abs(found.r_star - full.r_star) <= 0.05 + 1e-9
    assert found.low <= full.r_star <= found.high
    assert found.fits <= 0.2 * full.fits and full.fits == found.sweep_fits == 20 * 4 * 6
    # below r* the mixture lets a metric drift past the tolerance, at r* none does (the sweep's own means)
    at = {round(p.fraction, 2): p for p in full.probes}
    assert at[round(full.r_star, 2)].worst(METRICS) <= 0.1 < at[round(full.r_star - 0.05, 2)].worst(METRICS)


def curve_runner(threshold: float, slope: float, noise: float = 0.0, seed: int = 0):
    """A metric whose mean change is −(0.1 + slope·(threshold − r)) below the threshold's tolerance crossing."""

    def run(fraction: float, seeds: list[int]) -> list[safe_zone.ChainOutcome]:
        out = []
        for s in seeds:
            rng = np.random.default_rng([seed, s, round(fraction * 1000)])
            drift = max(0.0, 0.1 + slope * (threshold - fraction)) + noise * rng.standard_normal()
            out.append(safe_zone.ChainOutcome(fraction, s, {"m": 1.0}, {"m": 1.0 - drift}, 6))
        return out

    return run


@given(threshold=st.floats(0.0, 0.97), slope=st.floats(0.2, 3.0), step=st.sampled_from([0.05, 0.025]))
def test_on_a_noise_free_curve_the_search_finds_the_sweeps_answer_within_its_budget(threshold, slope, step):
    settings = SafeZoneParams(step=step)
    run = curve_runner(threshold, slope)
    found, full = safe_zone.search(run, settings, ("m",)), safe_zone.sweep(run, settings, ("m",))
    assert found.r_star == full.r_star
    assert found.fits <= settings.budget * full.fits
    assert found.low <= full.r_star <= found.high


@given(threshold=st.floats(0.05, 0.9), slope=st.floats(0.3, 2.0), noise=st.floats(0.0, 0.05), seed=st.integers(0, 99))
def test_with_noise_the_search_stays_within_its_budget_and_brackets_what_it_certifies(threshold, slope, noise, seed):
    settings = SafeZoneParams()
    found = safe_zone.search(curve_runner(threshold, slope, noise, seed), settings, ("m",))
    assert found.fits <= settings.budget * safe_zone.sweep_fits(settings)
    if threshold <= 0.8:  # all real data keeps the metric well within the tolerance: something is certified
        assert found.certified
    if found.certified:
        assert found.low <= found.r_star <= found.high
        assert any(p.fraction == found.r_star and p.verdict == "safe" for p in found.probes)
    assert all(p.verdict in ("safe", "unsafe") and p.decided_by in ("confidence", "mean") for p in found.probes)


def test_nothing_is_certified_when_even_real_data_alone_drifts_past_the_tolerance():
    def run(fraction: float, seeds: list[int]) -> list[safe_zone.ChainOutcome]:
        return [safe_zone.ChainOutcome(fraction, s, {"m": 1.0}, {"m": 0.5 + 0.01 * s}, 6) for s in seeds]

    found = safe_zone.search(run, SafeZoneParams(), ("m",))
    assert not found.certified and found.r_star is None and found.high == 1.0
    assert found.probes[-1].fraction == 1.0 and found.probes[-1].verdict == "unsafe"


def test_a_tight_budget_stops_the_search_and_certifies_only_a_tested_fraction():
    settings = SafeZoneParams(budget=0.05, seeds=8)  # 0.05 × 20 × 8 × 6 = 48 fits: 8 chains
    found = safe_zone.search(curve_runner(0.4, 1.0, noise=0.2), settings, ("m",))
    assert found.fits <= 48
    if found.certified:
        assert any(p.fraction == found.r_star and p.verdict == "safe" for p in found.probes)


def test_changes_are_signed_relative_to_generation_0_and_unmeasurable_metrics_are_left_out():
    outcome = safe_zone.ChainOutcome(0.5, 0, {"a": 2.0, "b": 0.0, "c": math.nan}, {"a": 1.5, "b": 0.25, "c": 1.0}, 6)
    assert outcome.changes() == {"a": -0.25, "b": 0.25, "c": pytest.approx(math.nan, nan_ok=True)}
    probe = safe_zone.Probe(0.5, [outcome, safe_zone.ChainOutcome(0.5, 1, {"a": 2.0}, {"a": 2.5}, 6)])
    assert probe.mean_change("a") == pytest.approx(0.0)  # a fall and a rise: noise, not drift
    assert probe.worst(["a", "c"]) == pytest.approx(0.0)
    recorded = probe.to_dict()  # what the ledger keeps: strict JSON, no NaN
    assert recorded["changes"]["c"] == [None, None] and recorded["mean_change"]["a"] == pytest.approx(0.0)
    json.dumps(recorded, allow_nan=False)
