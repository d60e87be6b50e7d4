"""Which model to serve: a new model becomes ``champion`` only if it is no worse than the current champion,
within the tolerances in params.yaml (``promotion:``); otherwise it stays a ``candidate`` and the reasons are
recorded. The gate decides what is trained on; this decides what is served.

Compared: the modality's tail signal (tail coverage, or rare-word retention for text: higher is better), its
spread signal (variance ratio: closer to 1 is better) and the held-out real loss (lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def role(self) -> str:
        return "champion" if self.promote else "candidate"

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)


def decide(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    *,
    tail: str,
    spread: str,
    tail_drop: float,
    spread_drift: float,
    loss_rise: float,
) -> Decision:
    """Compare the candidate's metrics with the champion's (None: there is no champion yet, promote)."""
    if champion is None:
        return Decision(True, ["no champion yet"])
    refused = []
    if candidate[tail] < champion[tail] - tail_drop:
        refused.append(f"{tail} {candidate[tail]:.3f} < champion's {champion[tail]:.3f} - {tail_drop:g}")
    if abs(candidate[spread] - 1) > abs(champion[spread] - 1) + spread_drift:
        refused.append(
            f"{spread} {candidate[spread]:.3f} is further from 1 than the champion's {champion[spread]:.3f} "
            f"+ {spread_drift:g}"
        )
    loss = "heldout_real_loss"
    if candidate[loss] > champion[loss] + loss_rise:
        refused.append(f"{loss} {candidate[loss]:.3f} > champion's {champion[loss]:.3f} + {loss_rise:g}")
    if refused:
        return Decision(False, refused)
    return Decision(True, [f"within tolerances of the champion ({tail}, {spread}, {loss})"])
