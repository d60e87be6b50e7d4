"""Mixing policies: which records a generation trains on.

``accumulate`` keeps every real record and every synthetic record made so far: test error stays
bounded (Gerstgrasser et al. 2024). ``replace`` trains on the newest synthetic batch only: the
setting in which models collapse (Shumailov et al. 2024); it exists to study collapse, and
production runs refuse it (see collapse_guard.config). Each policy is a small object behind one
``mix`` method so that new policies are one class each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import pandas as pd

from collapse_guard.errors import ConfigError
from collapse_guard.provenance import REAL, SOURCE

FILE_COLUMN = "_file"  # which file a row came from, so gate failures can name it


@dataclass(frozen=True)
class MixtureSummary:
    policy: str
    rows: int
    real: int
    synthetic: int
    real_fraction: float

    def to_dict(self) -> dict:
        return asdict(self)


class MixingPolicy(Protocol):
    name: str

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame]) -> pd.DataFrame:
        """``synthetic_pools`` are the curated batches of generations 1..n, oldest first."""
        ...


class Accumulate:
    name = "accumulate"

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat([real, *synthetic_pools], ignore_index=True)


class Replace:
    name = "replace"

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame]) -> pd.DataFrame:
        # The first generation has no synthetic data yet: it trains on real data like every policy.
        return synthetic_pools[-1].reset_index(drop=True) if synthetic_pools else real.reset_index(drop=True)


POLICIES: dict[str, type] = {cls.name: cls for cls in (Accumulate, Replace)}


def policy_named(name: str) -> MixingPolicy:
    try:
        return POLICIES[name]()
    except KeyError as exc:
        raise ConfigError(f"unknown mixing policy {name!r}; known: {sorted(POLICIES)}") from exc


def summarise(mixture: pd.DataFrame, policy: str) -> MixtureSummary:
    real = int((mixture[SOURCE] == REAL).sum()) if SOURCE in mixture else 0
    rows = len(mixture)
    return MixtureSummary(
        policy=policy, rows=rows, real=real, synthetic=rows - real, real_fraction=real / rows if rows else 0.0
    )
