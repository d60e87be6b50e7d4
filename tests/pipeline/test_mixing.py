import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.pipeline.mixing import Accumulate, MixContext, Replace, summarise
from collapse_guard.records.provenance import stamp_real
from collapse_guard.tabular.curation import curate, select_diverse
from collapse_guard.tabular.default_data import sample_default

CTX = MixContext(rng=np.random.default_rng(0))


@pytest.fixture
def real():
    return stamp_real(sample_default(100, 0.025, np.random.default_rng(0)), origin="t")


def test_accumulate_keeps_everything_and_replace_keeps_only_the_newest(real):
    pools = [
        curate(sample_default(30, 0.025, np.random.default_rng(s)), real, generation=s, model_id="m", run_id="r")[0]
        for s in (1, 2)
    ]
    accumulated = Accumulate().mix(real, pools, CTX).frame
    assert len(accumulated) == 160
    assert summarise(Accumulate().mix(real, pools, CTX), "accumulate").real_fraction == pytest.approx(100 / 160)
    replaced = Replace().mix(real, pools, CTX).frame
    assert len(replaced) == 30 and (replaced["generation"] == 2).all()
    assert summarise(Replace().mix(real, pools, CTX), "replace").real_fraction == 0.0
    assert len(Replace().mix(real, [], CTX).frame) == 100  # generation 0 trains on real data under every policy


def _pool(n, rare_weight, seed, real):
    return curate(
        sample_default(n, rare_weight, np.random.default_rng(seed)), real, generation=1, model_id="m", run_id="r"
    )[0]


def test_accumulate_subsample_draws_a_fixed_size_from_everything(real):
    from collapse_guard.pipeline.mixing import AccumulateSubsample

    pools = [_pool(100, 0.025, s, real) for s in (1, 2, 3)]
    frame = AccumulateSubsample(training_size=120).mix(real, pools, CTX).frame
    assert len(frame) == 120 and frame["record_id"].is_unique
    assert 0 < (frame["source"] == "real").mean() < 0.5  # about 100/400 of it is real
    assert len(AccumulateSubsample().mix(real, pools, CTX).frame) == len(real)


def test_fixed_ratio_hits_its_target_and_selects_synthetic_records_from_thin_regions():
    from collapse_guard.pipeline.mixing import FixedRatio
    from tests.conftest import rare_mode_mask

    anchor = stamp_real(sample_default(2000, 0.025, np.random.default_rng(0)), origin="t")
    # a collapsing model: its batch has a tenth of the real rare mass
    pool = _pool(4000, 0.0025, 5, anchor)
    mixture = FixedRatio(real_fraction=0.7).mix(
        anchor, [pool], MixContext(np.random.default_rng(1), select=select_diverse)
    )
    synthetic = mixture.frame[mixture.frame["source"] == "synthetic"]
    assert summarise(mixture, "fixed-ratio").real_fraction == pytest.approx(0.7, abs=0.01)
    random_pick = pool.sample(len(synthetic), random_state=1)
    assert rare_mode_mask(synthetic).mean() > 2 * rare_mode_mask(random_pick).mean()


def test_adaptive_ratio_raises_the_real_share_when_tails_fall_and_says_why():
    from collapse_guard.pipeline.mixing import AdaptiveRatio

    policy = AdaptiveRatio(real_fraction=0.6, step_up=0.1, step_down=0.02, tolerance=0.05)
    signals = ("tail_coverage", "variance_ratio")
    share, reason = policy.target(
        [{"tail_coverage": 0.9, "variance_ratio": 1.0}, {"tail_coverage": 0.7, "variance_ratio": 1.0}], 0.6, signals
    )
    assert share == pytest.approx(0.7) and "tail_coverage fell 0.900 → 0.700" in reason
    share, reason = policy.target([{"tail_coverage": 0.9, "variance_ratio": 1.0}] * 2, 0.7, signals)
    assert share == pytest.approx(0.68) and "held" in reason
    assert policy.target([], None, signals) == (0.6, "not enough history yet: keep the starting share")
    capped = AdaptiveRatio(real_fraction=0.9, max_real_fraction=0.95)
    assert capped.target([{"tail_coverage": 1.0}, {"tail_coverage": 0.1}], 0.9, signals)[0] == pytest.approx(0.95)


def test_every_configured_policy_name_builds():
    from collapse_guard.config import POLICY_NAMES, MixingParams
    from collapse_guard.pipeline.mixing import policy_named

    assert len(POLICY_NAMES) == 5
    for name in POLICY_NAMES:
        assert policy_named(MixingParams(policy=name)).name == name


def test_safe_zone_needs_a_sustained_drop():
    from collapse_guard.pipeline.experiment import generations_until

    def chain(values, fraction):
        return pd.DataFrame(
            {
                "anchor_rows": 100,
                "target_real_fraction": fraction,
                "seed": 0,
                "generation": range(len(values)),
                "tail_coverage": values,
            }
        )

    table = pd.concat([chain([0.9, 0.4, 0.8, 0.9], 0.1), chain([0.9, 0.7, 0.4, 0.3], 0.5), chain([0.9, 0.6, 0.4], 0.9)])
    zone = generations_until(table, "tail_coverage", 0.5).set_index("target_real_fraction")["generations_until_below"]
    assert np.isnan(zone[0.1])  # one noisy dip is not a collapse
    assert zone[0.5] == 2.0 and zone[0.9] == 2.0  # a drop in the last generation counts


def test_fixed_ratio_without_a_selector_chooses_uniformly():
    from collapse_guard.pipeline.mixing import FixedRatio
    from collapse_guard.records.provenance import stamp_synthetic

    anchor = stamp_real(pd.DataFrame({"text": [f"real document {i}" for i in range(70)]}), origin="test")
    pool = stamp_synthetic(
        pd.DataFrame({"text": [f"generated document {i}" for i in range(200)]}), generation=1, model_id="m", run_id="r"
    )
    mixture = FixedRatio(real_fraction=0.7).mix(anchor, [pool], MixContext(np.random.default_rng(3)))
    summary = summarise(mixture, "fixed-ratio")
    assert summary.real == 70 and summary.synthetic == 30
    chosen = mixture.frame.loc[mixture.frame["source"] == "synthetic", "text"]
    assert chosen.is_unique and set(chosen) <= set(pool["text"])


@given(
    real_rows=st.integers(1, 300),
    batch_rows=st.integers(1, 300),
    share=st.floats(0.01, 0.95),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=60)
def test_replace_keeping_real_data_adds_a_fresh_real_draw_to_the_whole_newest_batch(real_rows, batch_rows, share, seed):
    """Shumailov et al.'s second arm: the newest batch whole, plus real records drawn without replacement making
    up ``share`` of the mixture (to rounding), or every real record when there are too few."""
    from collapse_guard.pipeline.mixing import Replace
    from collapse_guard.records.provenance import stamp_synthetic

    real = stamp_real(pd.DataFrame({"text": [f"real {i}" for i in range(real_rows)]}), origin="test")
    old, new = (
        stamp_synthetic(
            pd.DataFrame({"text": [f"g{g} {i}" for i in range(batch_rows)]}), generation=g, model_id="m", run_id="r"
        )
        for g in (1, 2)
    )
    mixture = Replace(real_fraction=share).mix(real, [old, new], MixContext(np.random.default_rng(seed)))
    frame, summary = mixture.frame, summarise(mixture, "replace")
    assert (frame.loc[frame["source"] == "synthetic", "text"].tolist()) == new["text"].tolist()
    kept = frame.loc[frame["source"] == "real", "text"]
    assert kept.is_unique and set(kept) <= set(real["text"])
    wanted = batch_rows * share / (1 - share)
    assert summary.real == min(real_rows, round(wanted)) and mixture.target_real_fraction == share
    if wanted <= real_rows:
        assert abs(summary.real_fraction - share) <= 1 / len(frame)


def test_replace_keeps_no_real_data_by_default_and_draws_it_afresh_each_generation():
    from collapse_guard.config import MixingParams
    from collapse_guard.pipeline.mixing import policy_named
    from collapse_guard.records.provenance import stamp_synthetic

    real = stamp_real(pd.DataFrame({"text": [f"real {i}" for i in range(500)]}), origin="test")
    batch = stamp_synthetic(
        pd.DataFrame({"text": [f"gen {i}" for i in range(90)]}), generation=1, model_id="m", run_id="r"
    )
    assert summarise(policy_named(MixingParams(policy="replace")).mix(real, [batch], CTX), "replace").real == 0
    kept = policy_named(MixingParams(policy="replace", replace_real_fraction=0.1))
    draws = [
        set(kept.mix(real, [batch], MixContext(np.random.default_rng(s))).frame["text"]) - set(batch["text"])
        for s in (1, 2)
    ]
    assert len(draws[0]) == len(draws[1]) == 10 and draws[0] != draws[1]
