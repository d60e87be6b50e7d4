"""Curation of a synthetic batch before it may join a mixture.

It stamps provenance and drops rows that must never be trained on: invalid values (NaN, infinity),
exact duplicates within the batch, and exact copies of anchor records (a model that regurgitates
its training data adds no information and narrows the distribution). Every drop is counted by reason,
and the counts go to MLflow and the ledger.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from collapse_guard.errors import DataError
from collapse_guard.provenance import RECORD_ID, feature_columns, provenance_flags, stamp_synthetic


@dataclass(frozen=True)
class CurationReport:
    generated: int
    kept: int
    dropped_invalid: int
    dropped_duplicate: int
    dropped_anchor_copy: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def curate(
    raw: pd.DataFrame,
    anchor: pd.DataFrame,
    *,
    generation: int,
    model_id: str,
    run_id: str,
) -> tuple[pd.DataFrame, CurationReport]:
    """Stamp and filter a model's raw samples; returns the kept records and why the others went."""
    expected = feature_columns(anchor)
    if list(raw.columns) != expected:
        raise DataError(f"generator {model_id} returned columns {list(raw.columns)}, the anchor has {expected}")
    stamped = stamp_synthetic(raw, generation=generation, model_id=model_id, run_id=run_id)
    valid = provenance_flags(stamped)["_features_finite"].to_numpy()
    duplicate = stamped[RECORD_ID].duplicated().to_numpy() & valid
    anchor_copy = stamped[RECORD_ID].isin(anchor[RECORD_ID]).to_numpy() & valid & ~duplicate
    keep = valid & ~duplicate & ~anchor_copy
    report = CurationReport(
        generated=len(raw),
        kept=int(keep.sum()),
        dropped_invalid=int((~valid).sum()),
        dropped_duplicate=int(duplicate.sum()),
        dropped_anchor_copy=int(anchor_copy.sum()),
    )
    return stamped[keep].reset_index(drop=True), report


def invalid_mask(frame: pd.DataFrame) -> np.ndarray:
    return ~provenance_flags(frame)["_features_finite"].to_numpy()
