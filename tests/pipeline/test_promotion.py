"""The promotion check: a new model becomes champion only within tolerances of the current champion, as
judged by the GX suite expectations/promotion.json on one row of margins."""

from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.config import PromotionParams
from collapse_guard.pipeline.promotion import decide, margins
from tests.conftest import REPO

TOL = PromotionParams(tail_drop=0.1, spread_drift=0.15, loss_rise=0.1)
SIGNALS = {"tail": "tail_coverage", "spread": "variance_ratio"}
CHAMPION = {"tail_coverage": 0.9, "variance_ratio": 1.0, "heldout_real_loss": 2.0}
MODEL_FILE = "generations/gen_003/model.pt"


def check(candidate: dict, champion: dict | None):
    return decide(
        candidate,
        champion,
        **SIGNALS,
        settings=TOL,
        expectations_dir=REPO / "expectations",
        modality="tabular",
        model_file=MODEL_FILE,
    )


def test_the_first_model_is_promoted():
    assert check(CHAMPION, None).promote


def test_each_signal_can_refuse_and_the_reason_is_its_expectations_sentence():
    worse_tail = check({**CHAMPION, "tail_coverage": 0.7}, CHAMPION)
    worse_loss = check({**CHAMPION, "heldout_real_loss": 2.2}, CHAMPION)
    assert not worse_tail.promote and not worse_loss.promote
    assert worse_tail.reasons[0] == (
        "[promotion] the candidate's tail coverage fell 0.2000 below the champion's, more than promotion.tail_drop 0.1 "
        f"(in {MODEL_FILE})"
    )
    assert worse_tail.reasons[0].endswith(f"(in {MODEL_FILE})")
    assert "tail_coverage 0.700" in worse_tail.reasons[-1] and "champion's 0.900" in worse_tail.reasons[-1]
    assert worse_loss.reasons[0].startswith("[promotion] the candidate's held-out real loss rose 0.2000 nats above")
    assert check({**CHAMPION, "tail_coverage": 0.85, "heldout_real_loss": 2.05}, CHAMPION).promote


def test_all_failing_signals_are_reported_together():
    decision = check({"tail_coverage": 0.5, "variance_ratio": 0.5, "heldout_real_loss": 3.0}, CHAMPION)
    assert [r.split(" (in ")[0] for r in decision.reasons[:3]] == [
        "[promotion] the candidate's tail coverage fell 0.4000 below the champion's, more than promotion.tail_drop 0.1",
        "[promotion] the candidate's variance ratio strayed 0.5000 further from 1 than the champion's, more than "
        "promotion.spread_drift 0.15",
        "[promotion] the candidate's held-out real loss rose 1.0000 nats above the champion's, more than "
        "promotion.loss_rise 0.1",
    ]


@given(
    tail=st.floats(0, 2),
    spread=st.floats(0.01, 3),
    loss=st.floats(-5, 10),
    gain=st.floats(0, 1),
    closer=st.floats(0, 1),
)
def test_a_model_at_least_as_good_on_every_signal_has_no_positive_margin(tail, spread, loss, gain, closer):
    champion = {"tail_coverage": tail, "variance_ratio": spread, "heldout_real_loss": loss}
    better = {
        "tail_coverage": tail + gain,
        "variance_ratio": 1 + (spread - 1) * closer,
        "heldout_real_loss": loss - gain,
    }
    assert (margins(better, champion, **SIGNALS).iloc[0] <= 1e-12).all()


@settings(max_examples=5, deadline=None)  # each example is a real GX validation
@given(gain=st.floats(0, 1), closer=st.floats(0, 1))
def test_a_model_at_least_as_good_on_every_signal_is_promoted_by_the_suite(gain, closer):
    better = {
        "tail_coverage": 0.9 + gain,
        "variance_ratio": 1 + 0.3 * closer,
        "heldout_real_loss": 2.0 - gain,
    }
    assert check(better, {**CHAMPION, "variance_ratio": 1.3}).promote


def test_a_decision_keeps_the_tolerances_and_the_suite_file_it_applied():
    import hashlib

    decision = check({**CHAMPION, "tail_coverage": 0.7}, CHAMPION)
    assert decision.parameters == {"tail_drop": 0.1, "spread_drift": 0.15, "loss_rise": 0.1}
    suite_file = REPO / "expectations" / "promotion.json"
    assert decision.suites == {"promotion": hashlib.sha256(suite_file.read_bytes()).hexdigest()}
    assert check(CHAMPION, None).parameters == {}  # no champion: nothing was compared, nothing applied
