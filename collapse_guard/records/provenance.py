"""Provenance: every record, real or synthetic, says what it is, who made it and from what.

Labelling every datum is one of the defences against collapse (Shumailov et al. 2024): data whose
origin is known can be weighted, filtered and audited later. A record without valid provenance never
enters a mixture; the gate checks that (see expectations/provenance.json).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np
import pandas as pd

RECORD_ID = "record_id"
SOURCE = "source"
GENERATION = "generation"
MODEL_ID = "model_id"
CREATED_AT = "created_at"
ORIGIN = "origin"

PROVENANCE_COLUMNS: tuple[str, ...] = (RECORD_ID, SOURCE, GENERATION, MODEL_ID, CREATED_AT, ORIGIN)
REAL, SYNTHETIC = "real", "synthetic"

# Labels a kind of data stamps beside the provenance columns (text: the watermark key and the decoding).
# A modality registers its own when its module is imported; they are never part of the payload.
_LABEL_COLUMNS: set[str] = set()


def register_label_columns(*names: str) -> None:
    _LABEL_COLUMNS.update(names)


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The payload: every column that is not provenance, a registered label, nor a derived ``_`` column."""
    return [
        c
        for c in frame.columns
        if c not in PROVENANCE_COLUMNS and c not in _LABEL_COLUMNS and not str(c).startswith("_")
    ]


def content_hashes(features: pd.DataFrame) -> pd.Series:
    """SHA-256 of each row's payload, so the same values always get the same ``record_id``.

    Numbers hash by their float64 bytes (so 1 and 1.0 agree), anything else by its UTF-8 text;
    column names are part of the hash so that a value moved to another column is a different record.
    """
    columns = list(features.columns)
    header = "\x1f".join(map(str, columns)).encode()
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(features[c])]
    other = [c for c in columns if c not in numeric]
    num_bytes = np.ascontiguousarray(features[numeric].to_numpy(dtype=np.float64)) if numeric else None
    text = features[other].astype(str).to_numpy() if other else None
    ids = []
    for i in range(len(features)):
        digest = hashlib.sha256(header)
        if num_bytes is not None:
            digest.update(num_bytes[i].tobytes())
        if text is not None:
            digest.update("\x1f".join(text[i]).encode())
        ids.append(digest.hexdigest())
    return pd.Series(ids, index=features.index, name=RECORD_ID, dtype=object)


# Two real records with equal values are two records (two respondents who gave the same answers): the
# first keeps its content hash as id, the k-th repeat (k >= 1) gets the hash's first 56 hex digits followed by
# k in 8 hex digits. Ids stay unique and 64 hex digits long, integrity is still checked by the content hash
# (the first 56 digits, 224 bits), and the first 8 digits (which pick the held-out split) are shared, so equal
# records always fall on the same side of the split. A synthetic record is numbered by its generation (>= 1):
# equal values made by two generations are two records; curation compares payloads (``payload_keys``).
_BASE_DIGITS = 56


def payload_keys(features: pd.DataFrame) -> pd.Series:
    """What equal payloads share whatever their id's number: the content hash's first 56 hex digits."""
    return content_hashes(features).str.slice(0, _BASE_DIGITS)


def id_payload_keys(record_ids: pd.Series) -> pd.Series:
    return record_ids.astype(str).str.slice(0, _BASE_DIGITS)


def generation_ids(features: pd.DataFrame, generation: int) -> pd.Series:
    """Synthetic record ids: the content hash numbered by the generation that made the record."""
    hashes = content_hashes(features)
    if generation < 1:
        return hashes
    return (hashes.str.slice(0, _BASE_DIGITS) + f"{generation:08x}").rename(RECORD_ID)


def occurrence_ids(features: pd.DataFrame, existing: pd.Series | None = None) -> pd.Series:
    """Record ids unique per record: the content hash, numbered by how often the same values came before
    (in ``existing`` ids, then earlier in ``features``)."""
    hashes = content_hashes(features)
    base = hashes.str.slice(0, _BASE_DIGITS)
    before = None
    if existing is not None:  # count only the payloads this batch repeats: a big anchor is not counted whole
        known = id_payload_keys(existing)
        before = known[known.isin(set(base))].value_counts()
    offset = base.map(before).fillna(0).astype(np.int64) if before is not None else 0
    occurrence = (base.groupby(base).cumcount() + offset).to_numpy()
    ids = [h if k == 0 else f"{h[:_BASE_DIGITS]}{k:08x}" for h, k in zip(hashes, occurrence, strict=True)]
    return pd.Series(ids, index=features.index, name=RECORD_ID, dtype=object)


def ids_match_payload(record_ids: pd.Series, features: pd.DataFrame) -> np.ndarray:
    """Per record: its id is its content hash, or that hash numbered as a repeat (see ``occurrence_ids``)."""
    ids = record_ids.astype(str).to_numpy()
    hashes = content_hashes(features).to_numpy()
    exact = ids == hashes
    repeat = np.array(
        [
            len(i) == 64 and i[:_BASE_DIGITS] == h[:_BASE_DIGITS] and _is_repeat_number(i[_BASE_DIGITS:])
            for i, h in zip(ids, hashes, strict=True)
        ],
        dtype=bool,
    )
    return exact | repeat


def _is_repeat_number(digits: str) -> bool:
    try:
        return int(digits, 16) >= 1
    except ValueError:
        return False


def utc_now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))


def stamp(
    features: pd.DataFrame,
    *,
    source: str,
    generation: int,
    model_id: str,
    origin: str,
    created_at: pd.Timestamp | None = None,
    labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Return ``features`` with the provenance columns in front (and ``labels``, e.g. the text columns).

    Real records are numbered when their values repeat (each is a record), synthetic ones by their generation
    (see ``occurrence_ids`` and ``generation_ids``)."""
    created = created_at if created_at is not None else utc_now()
    stamped = pd.DataFrame(
        {
            RECORD_ID: occurrence_ids(features) if source == REAL else generation_ids(features, generation),
            SOURCE: source,
            GENERATION: np.int64(generation),
            MODEL_ID: model_id,
            CREATED_AT: created,
            ORIGIN: origin,
            **(labels or {}),
        },
        index=features.index,
    )
    return pd.concat([stamped, features], axis=1).reset_index(drop=True)


def stamp_real(features: pd.DataFrame, origin: str, labels: dict[str, str] | None = None) -> pd.DataFrame:
    return stamp(features, source=REAL, generation=0, model_id="", origin=origin, labels=labels)


def stamp_synthetic(
    features: pd.DataFrame, *, generation: int, model_id: str, run_id: str, labels: dict[str, str] | None = None
) -> pd.DataFrame:
    return stamp(features, source=SYNTHETIC, generation=generation, model_id=model_id, origin=run_id, labels=labels)


def provenance_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-row checks that GX cannot express itself, as boolean columns the gate's suites assert on.

    ``_record_id_matches_payload``: the id is the hash of the payload, so an edited value is caught.
    ``_features_finite``: no NaN or infinity in any numeric feature.
    """
    features = frame[feature_columns(frame)]
    flags = pd.DataFrame(index=frame.index)
    if RECORD_ID in frame:
        flags["_record_id_matches_payload"] = ids_match_payload(frame[RECORD_ID], features)
    else:
        flags["_record_id_matches_payload"] = False
    numeric = features.select_dtypes("number")
    finite = np.isfinite(numeric.to_numpy(dtype=np.float64)).all(axis=1) if numeric.shape[1] else True
    flags["_features_finite"] = finite & features.notna().all(axis=1).to_numpy()
    return flags


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Feature columns the geometric metrics (distances, variances) use."""
    return [c for c in feature_columns(frame) if pd.api.types.is_numeric_dtype(frame[c])]


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """Every other feature column: treated as unordered levels."""
    numeric = set(numeric_columns(frame))
    return [c for c in feature_columns(frame) if c not in numeric]
