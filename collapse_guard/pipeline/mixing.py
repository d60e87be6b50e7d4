"""Mixing policies: which records a generation trains on.

- ``accumulate``: every real record and every synthetic record so far; test error stays bounded
  (Gerstgrasser et al. 2024).
- ``replace``: the newest synthetic batch only; the setting in which models collapse (Shumailov et
  al. 2024). It exists to study collapse; production runs refuse it (collapse_guard.config). With
  ``replace_real_fraction`` s > 0, real records drawn afresh each generation make up s of the mixture
  (Shumailov et al.'s second arm keeps 10 % of the original data).
- ``accumulate-subsample``: a fixed-size training set drawn uniformly from everything accumulated;
  degrades slowly rather than linearly (Gerstgrasser et al. 2024, section 5).
- ``fixed-ratio``: all real records plus synthetic records *selected* by the modality (tables: for
  diversity, collapse_guard.tabular.curation.select_diverse) so that real records make up ``real_fraction``.
- ``adaptive-ratio``: fixed-ratio whose real share rises by ``step_up`` when one of the modality's two
  headline metrics (tables: rare-region retention and variance ratio) fell between the last two generations, and
  eases down by ``step_down`` when they held; every change is returned with its reason and recorded in
  the ledger.

Each policy is a small object behind one ``mix`` method, so a new policy is one class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from collapse_guard.config import MixingParams
from collapse_guard.modality.base import Selector, uniform_choice
from collapse_guard.records.provenance import REAL, SOURCE

FILE_COLUMN = "_file"  # which file a row came from, so gate failures can name it


@dataclass(frozen=True)
class MixContext:
    rng: np.random.Generator
    history: list[dict[str, float]] = field(default_factory=list)  # earlier generations' metrics, oldest first
    previous_target: float | None = None  # the real share the policy aimed at last generation
    select: Selector = uniform_choice  # how a fixed real share picks its synthetic records (the modality's)
    signals: tuple[str, ...] = ("rare_region_retention", "variance_ratio")  # the metrics adaptive-ratio watches


@dataclass(frozen=True)
class Mixture:
    frame: pd.DataFrame
    target_real_fraction: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class MixtureSummary:
    policy: str
    rows: int
    real: int
    synthetic: int
    real_fraction: float
    target_real_fraction: float | None = None
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class MixingPolicy(Protocol):
    name: str
    keeps_anchor: bool  # every record of the anchor's training split is in every mixture it makes

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame], context: MixContext) -> Mixture:
        """``synthetic_pools`` are the curated batches of generations 1..n, oldest first."""
        ...


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)


class Accumulate:
    name = "accumulate"
    keeps_anchor = True

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame], context: MixContext) -> Mixture:
        return Mixture(_concat([real, *synthetic_pools]))


@dataclass
class Replace:
    """The newest batch, plus ``round(len(batch) · s / (1 − s))`` real records drawn uniformly without
    replacement (at most all of them) when ``real_fraction`` s > 0: the batch is never cut, real data is added."""

    real_fraction: float = 0.0
    name: str = "replace"
    keeps_anchor: bool = False  # at most a fresh sample of the anchor: most of it is left out

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame], context: MixContext) -> Mixture:
        # The first generation has no synthetic data yet: it trains on real data under every policy.
        if not synthetic_pools:
            return Mixture(real.reset_index(drop=True))
        batch = synthetic_pools[-1]
        if self.real_fraction <= 0:
            return Mixture(batch.reset_index(drop=True))
        wanted = min(len(real), int(round(len(batch) * self.real_fraction / (1.0 - self.real_fraction))))
        kept = real.iloc[np.sort(context.rng.choice(len(real), size=wanted, replace=False))]
        return Mixture(_concat([kept, batch]), self.real_fraction)


@dataclass
class AccumulateSubsample:
    training_size: int = 0
    name: str = "accumulate-subsample"
    keeps_anchor: bool = False  # a sample of everything accumulated: some anchor records are left out

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame], context: MixContext) -> Mixture:
        everything = _concat([real, *synthetic_pools])
        size = min(self.training_size or len(real), len(everything))
        chosen = np.sort(context.rng.choice(len(everything), size=size, replace=False))
        return Mixture(everything.iloc[chosen].reset_index(drop=True))


@dataclass
class FixedRatio:
    real_fraction: float = 0.7
    name: str = "fixed-ratio"
    keeps_anchor: bool = True

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame], context: MixContext) -> Mixture:
        return _with_real_share(real, synthetic_pools, self.real_fraction, context, "")


@dataclass
class AdaptiveRatio:
    real_fraction: float = 0.7
    step_up: float = 0.1
    step_down: float = 0.02
    tolerance: float = 0.05
    min_real_fraction: float = 0.3
    max_real_fraction: float = 0.95
    name: str = "adaptive-ratio"
    keeps_anchor: bool = True

    def target(
        self, history: list[dict[str, float]], previous: float | None, signals: tuple[str, ...]
    ) -> tuple[float, str]:
        current = self.real_fraction if previous is None else previous
        if len(history) < 2:
            return current, "not enough history yet: keep the starting share"
        before, last = history[-2], history[-1]
        falls = [
            f"{key} fell {before[key]:.3f} → {last[key]:.3f}"
            for key in signals
            if key in before and key in last and before[key] - last[key] > self.tolerance
        ]
        if falls:
            return min(self.max_real_fraction, current + self.step_up), "raise real share: " + "; ".join(falls)
        return max(self.min_real_fraction, current - self.step_down), f"{' and '.join(signals)} held: ease down"

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame], context: MixContext) -> Mixture:
        share, reason = self.target(context.history, context.previous_target, context.signals)
        return _with_real_share(real, synthetic_pools, share, context, reason)


def _with_real_share(
    real: pd.DataFrame, pools: list[pd.DataFrame], share: float, context: MixContext, reason: str
) -> Mixture:
    if not pools:
        return Mixture(real.reset_index(drop=True), share, reason)
    wanted = int(round(len(real) * (1.0 - share) / share))
    pool = _concat(pools)
    synthetic = pool.reset_index(drop=True) if wanted >= len(pool) else context.select(pool, wanted, real, context.rng)
    return Mixture(_concat([real, synthetic]), share, reason)


def policy_named(params: MixingParams) -> MixingPolicy:
    """The policy ``params.policy`` names (one of collapse_guard.config.POLICY_NAMES)."""
    policies = {
        "accumulate": Accumulate,
        "replace": lambda: Replace(params.replace_real_fraction),
        "accumulate-subsample": lambda: AccumulateSubsample(params.training_size),
        "fixed-ratio": lambda: FixedRatio(params.real_fraction),
        "adaptive-ratio": lambda: AdaptiveRatio(params.real_fraction, **params.adaptive.model_dump()),
    }
    return policies[params.policy]()


ANCHOR_SHARE_SOURCE = "params.yaml mixing.policy (1: the policy keeps every anchor training record; 0: it samples them)"


def anchor_share_floor(params: MixingParams) -> float:
    """The share of the anchor's training split every mixture must hold (the gate's ``min_anchor_share``): all of
    it under a policy that keeps the anchor (accumulating around a real anchor is what keeps collapse away,
    Gerstgrasser et al. 2024), none under one that samples or drops it. The same rule for the flow's own mixtures
    and for a mixture made elsewhere (``collapse-guard check``), so both get the same verdict."""
    return 1.0 if policy_named(params).keeps_anchor else 0.0


def summarise(mixture: Mixture, policy: str) -> MixtureSummary:
    frame = mixture.frame
    real = int((frame[SOURCE] == REAL).sum()) if SOURCE in frame else 0
    rows = len(frame)
    return MixtureSummary(
        policy=policy,
        rows=rows,
        real=real,
        synthetic=rows - real,
        real_fraction=real / rows if rows else 0.0,
        target_real_fraction=mixture.target_real_fraction,
        reason=mixture.reason,
    )
