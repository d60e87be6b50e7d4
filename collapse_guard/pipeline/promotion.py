"""Which model to serve: a new model becomes ``champion`` only if it is no worse than the current champion,
within the tolerances in params.yaml (``promotion:``); otherwise it stays a ``candidate`` and the reasons are
recorded. The gate decides what is trained on; this decides what is served.

The check is a Great Expectations suite like the gate's (``expectations/promotion.json``, ``meta.applies_to:
promotion``), validated by the gate's machinery on one row of margins, candidate minus champion, each
oriented so that larger is worse:

- ``tail_drop``: how far the early-collapse signal (rare-region retention for tables, rare-word retention for
  text) fell; 0 when either model has no value for it (an anchor without a rare region: nothing to lose);
- ``spread_drift``: how much further from 1 the spread signal (variance ratio) strayed;
- ``loss_rise``: how much the held-out real loss rose.

The tolerances are the suite's ``$PARAMETER`` values, and each failed expectation's ``meta.description``
(with what was observed) is the refusal reason recorded in the ledger and MLflow. A decision keeps the
tolerances and the suite digests it applied (none when there was no champion to compare with), for the ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from collapse_guard.config import PromotionParams
from collapse_guard.pipeline import gate

HELD_OUT_LOSS = "heldout_real_loss"
# Where each tolerance comes from, in the words the ledger records (``applied.sources``).
SOURCES: dict[str, str] = {name: f"params.yaml promotion.{name}" for name in gate.PROMOTION_PARAMETERS}


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    parameters: dict[str, float] = field(default_factory=dict)  # the tolerances applied (empty: nothing compared)
    suites: dict[str, str] = field(default_factory=dict)  # suite name -> SHA-256 of the file that was run
    champion_before: str | None = None  # the registry version that was champion when this was decided
    results: dict = field(default_factory=dict, repr=False)  # the promotion suite's GX results (none: no champion)

    @property
    def role(self) -> str:
        return "champion" if self.promote else "candidate"

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)

    def describe(self) -> str:
        return "promoted to champion" if self.promote else "kept as a candidate (worse than the champion)"


def margins(candidate: dict[str, float], champion: dict[str, float], *, tail: str, spread: str) -> pd.DataFrame:
    """The one-row frame the promotion suite validates: how much worse the candidate is on each signal
    (negative: better)."""
    return pd.DataFrame(
        {
            "tail_drop": [_drop(champion.get(tail), candidate.get(tail))],
            "spread_drift": [abs(candidate[spread] - 1) - abs(champion[spread] - 1)],
            "loss_rise": [candidate[HELD_OUT_LOSS] - champion[HELD_OUT_LOSS]],
        }
    )


def _drop(before: float | None, after: float | None) -> float:
    """``before - after``, or 0 when either is missing or not a number (nothing to compare)."""
    drop = float("nan") if before is None or after is None else float(before) - float(after)
    return drop if math.isfinite(drop) else 0.0


def tolerances(settings: PromotionParams) -> dict[str, float]:
    """The suite's ``$PARAMETER`` values, from params.yaml ``promotion:``."""
    return {name: float(getattr(settings, name)) for name in gate.PROMOTION_PARAMETERS}


def decide(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    *,
    tail: str,
    spread: str,
    settings: PromotionParams,
    expectations_dir: Path,
    modality: str,
    model_file: str,
) -> Decision:
    """Compare the candidate's metrics with the champion's (None: there is no champion yet, promote)."""
    if champion is None:
        return Decision(True, ["no champion yet"])
    verdict = gate.validate_frame(
        margins(candidate, champion, tail=tail, spread=spread),
        applies_to="promotion",
        expectations_dir=expectations_dir,
        parameters=tolerances(settings),
        default_file=model_file,
        modality=modality,
        words={"tail": tail.replace("_", " "), "spread": spread.replace("_", " ")},
    )
    applied = {"parameters": verdict.parameters, "suites": verdict.suites, "results": verdict.results}
    failures = verdict.failures
    if failures:
        compared = (
            f"candidate {tail} {candidate.get(tail, math.nan):.3f}, {spread} {candidate[spread]:.3f}, "
            f"{HELD_OUT_LOSS} {candidate[HELD_OUT_LOSS]:.3f} against the champion's "
            f"{champion.get(tail, math.nan):.3f}, {champion[spread]:.3f}, {champion[HELD_OUT_LOSS]:.3f}"
        )
        return Decision(False, [str(failure) for failure in failures] + [compared], **applied)
    return Decision(True, [f"within tolerances of the champion ({tail}, {spread}, {HELD_OUT_LOSS})"], **applied)
