"""Curation of a synthetic batch before it may join a mixture.

It stamps provenance and drops rows that must never be trained on: invalid values (NaN, infinity),
exact duplicates within the batch, exact copies of anchor records (a model that regurgitates its
training data adds no information and narrows the distribution), and, with ``near_copy_radius`` > 0,
near-copies: records within that distance (in the anchor's standardised units) of an earlier record of
the batch or of an anchor record. Every drop is counted by reason; the counts go to MLflow and the ledger.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collapse_guard.errors import DataError
from collapse_guard.modality.base import CurationReport
from collapse_guard.records.provenance import (
    RECORD_ID,
    categorical_columns,
    feature_columns,
    id_payload_keys,
    numeric_columns,
    payload_keys,
    provenance_flags,
    stamp_synthetic,
)


def curate(
    raw: pd.DataFrame,
    anchor: pd.DataFrame,
    *,
    generation: int,
    model_id: str,
    run_id: str,
    near_copy_radius: float = 0.0,
) -> tuple[pd.DataFrame, CurationReport]:
    """Stamp and filter a model's raw samples; returns the kept records and why the others went."""
    expected = feature_columns(anchor)
    if list(raw.columns) != expected:
        raise DataError(f"generator {model_id} returned columns {list(raw.columns)}, the anchor has {expected}")
    stamped = stamp_synthetic(raw, generation=generation, model_id=model_id, run_id=run_id)
    valid = provenance_flags(stamped)["_features_finite"].to_numpy()
    payload = payload_keys(stamped[expected])  # equal values, whatever number an id carries
    duplicate = payload.duplicated().to_numpy() & valid
    anchor_copy = payload.isin(id_payload_keys(anchor[RECORD_ID])).to_numpy() & valid & ~duplicate
    keep = valid & ~duplicate & ~anchor_copy
    near_dup, near_anchor = _near_copies(stamped, anchor, keep, near_copy_radius)
    keep &= ~near_dup & ~near_anchor
    report = CurationReport.from_masks(
        keep,
        {
            "invalid": ~valid,
            "duplicate": duplicate,
            "anchor_copy": anchor_copy,
            "near_duplicate": near_dup,
            "near_anchor_copy": near_anchor,
        },
    )
    return stamped[keep].reset_index(drop=True), report


def _near_copies(
    batch: pd.DataFrame, anchor: pd.DataFrame, candidates: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """(near-duplicate of an earlier kept batch record, near-copy of an anchor record), among ``candidates``."""
    none = np.zeros(len(batch), dtype=bool)
    if radius <= 0 or not candidates.any():
        return none, none.copy()
    from scipy.spatial import cKDTree

    columns = numeric_columns(anchor)
    if not columns:
        return none, none.copy()
    ref = anchor[columns].to_numpy(dtype=np.float64)
    centre, scale = ref.mean(axis=0), ref.std(axis=0) + 1e-12
    index = np.flatnonzero(candidates)
    z = (batch[columns].to_numpy(dtype=np.float64)[index] - centre) / scale
    # a near-copy must also agree on every categorical value
    levels = categorical_columns(anchor)
    batch_keys = batch[levels].astype(str).agg("\x1f".join, axis=1).to_numpy() if levels else np.zeros(len(batch))
    anchor_keys = anchor[levels].astype(str).agg("\x1f".join, axis=1).to_numpy() if levels else np.zeros(len(anchor))
    near_anchor = none.copy()
    distance, nearest = cKDTree((ref - centre) / scale).query(z, k=1)
    near_anchor[index] = (distance <= radius) & (anchor_keys[nearest] == batch_keys[index])
    near_dup = none.copy()
    for i, j in cKDTree(z).query_pairs(radius):  # keep the earlier record of each close pair
        later = index[max(i, j)]
        if not near_anchor[later] and batch_keys[index[i]] == batch_keys[index[j]]:
            near_dup[later] = True
    return near_dup, near_anchor


def select_diverse(
    pool: pd.DataFrame, k: int, reference: pd.DataFrame, rng: np.random.Generator, neighbours: int = 10
) -> pd.DataFrame:
    """Choose ``k`` synthetic records, favouring regions where the pool is thin relative to the anchor.

    Each candidate x gets the weight p_anchor(x) / p_pool(x), both densities estimated from k-NN
    distances (Loftsgaarden & Quesenberry 1965): w = (n_pool / n_anchor) · (d_pool(x) / d_anchor(x))^dim.
    Sampling without replacement in proportion to w (Efraimidis & Spirakis 2006) gives rare regions
    back the share the model took from them, instead of truncating the batch at random.
    """
    if k >= len(pool):
        return pool.reset_index(drop=True)
    from scipy.spatial import cKDTree

    columns = numeric_columns(pool)  # density is geometric: categorical levels do not enter it
    if not columns:  # only categorical columns: nothing to measure density on, a uniform choice
        return pool.iloc[np.sort(rng.choice(len(pool), size=k, replace=False))].reset_index(drop=True)
    ref = reference[columns].to_numpy(dtype=np.float64)
    centre, scale = ref.mean(axis=0), ref.std(axis=0) + 1e-12
    z_pool = (pool[columns].to_numpy(dtype=np.float64) - centre) / scale
    z_ref = (ref - centre) / scale
    m = min(neighbours, len(z_pool) - 1, len(z_ref))
    d_pool = cKDTree(z_pool).query(z_pool, k=m + 1)[0][:, -1]  # +1: a pool point is its own neighbour
    d_ref = cKDTree(z_ref).query(z_pool, k=m)[0].reshape(len(z_pool), -1)[:, -1]
    log_w = np.log(len(z_pool) / len(z_ref)) + z_pool.shape[1] * (np.log(d_pool + 1e-12) - np.log(d_ref + 1e-12))
    keys = np.log(rng.random(len(pool))) / np.exp(log_w - log_w.max())
    chosen = np.sort(np.argsort(-keys)[:k])
    return pool.iloc[chosen].reset_index(drop=True)
