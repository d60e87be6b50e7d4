"""The promotion check: a new model becomes champion only within tolerances of the current champion."""

from hypothesis import given
from hypothesis import strategies as st

from collapse_guard.pipeline.promotion import decide

TOL = {"tail": "tail_coverage", "spread": "variance_ratio", "tail_drop": 0.1, "spread_drift": 0.15, "loss_rise": 0.1}
CHAMPION = {"tail_coverage": 0.9, "variance_ratio": 1.0, "heldout_real_loss": 2.0}


def test_the_first_model_is_promoted():
    assert decide(CHAMPION, None, **TOL).promote


def test_each_signal_can_refuse_and_names_itself():
    worse_tail = decide({**CHAMPION, "tail_coverage": 0.7}, CHAMPION, **TOL)
    worse_spread = decide({**CHAMPION, "variance_ratio": 0.8}, CHAMPION, **TOL)
    worse_loss = decide({**CHAMPION, "heldout_real_loss": 2.2}, CHAMPION, **TOL)
    assert not worse_tail.promote and "tail_coverage 0.700" in worse_tail.summary
    assert not worse_spread.promote and "variance_ratio 0.800" in worse_spread.summary
    assert not worse_loss.promote and "heldout_real_loss 2.200" in worse_loss.summary
    assert decide({**CHAMPION, "tail_coverage": 0.85, "heldout_real_loss": 2.05}, CHAMPION, **TOL).promote


@given(
    tail=st.floats(0, 2),
    spread=st.floats(0.01, 3),
    loss=st.floats(-5, 10),
    gain=st.floats(0, 1),
    closer=st.floats(0, 1),
)
def test_a_model_at_least_as_good_on_every_signal_is_always_promoted(tail, spread, loss, gain, closer):
    champion = {"tail_coverage": tail, "variance_ratio": spread, "heldout_real_loss": loss}
    better = {
        "tail_coverage": tail + gain,
        "variance_ratio": 1 + (spread - 1) * closer,
        "heldout_real_loss": loss - gain,
    }
    assert decide(better, champion, **TOL).promote
