"""Provenance: every record, real or synthetic, says what it is, who made it and from what.

Labelling every datum is one of the defences against collapse (Shumailov et al. 2024): data whose
origin is known can be weighted, filtered and audited later. A record without valid provenance never
enters a mixture; the gate checks that (see expectations/provenance.json).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
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


def label_columns() -> tuple[str, ...]:
    """The label columns the imported modalities registered (never part of the payload)."""
    return tuple(sorted(_LABEL_COLUMNS))


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
    The message of a row is the column names joined by U+001F, the row's numbers (numeric columns in
    order) as float64 bytes, then its other values as text joined by U+001F.
    """
    return pd.Series(_row_digests(_payload(features)), index=features.index, name=RECORD_ID, dtype=object)


@dataclass(frozen=True)
class _Payload:
    """Rows in the exact form their content hash reads them: the same bytes here is the same record id."""

    header: bytes  # the column names, joined by U+001F
    numbers: np.ndarray  # (rows, numeric columns) float64 bytes, as uint64 so NaNs compare by their bits
    text: np.ndarray | None  # per row, the other values as text joined by U+001F (None: no such column)
    numeric: tuple[bool, ...] = ()  # per column, read as a number (else as text)

    @property
    def layout(self) -> tuple[bytes, tuple[bool, ...]]:
        """What must be equal before two payloads' rows can be compared: the columns and how each is read."""
        return self.header, self.numeric

    def __len__(self) -> int:
        return len(self.numbers)

    def rows(self, which: np.ndarray) -> _Payload:
        text = None if self.text is None else self.text[which]
        return _Payload(self.header, self.numbers[which], text, self.numeric)

    def same_rows(self, mine: np.ndarray, other: _Payload, theirs: np.ndarray) -> np.ndarray:
        """Per pair (mine[i], theirs[i]): the two rows have byte-identical payloads."""
        same = (self.numbers[mine] == other.numbers[theirs]).all(axis=1)
        if self.text is not None:
            same &= self.text[mine] == other.text[theirs]
        return same


def _payload(features: pd.DataFrame) -> _Payload:
    columns = list(features.columns)
    dtypes = dict(zip(features.columns, features.dtypes, strict=True))  # not features[c]: slow on wide tables
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(dtypes[c])]
    other = [c for c in columns if c not in numeric]
    n = len(features)
    if numeric:
        numbers = np.ascontiguousarray(features[numeric].to_numpy(dtype=np.float64)).view(np.uint64)
    else:
        numbers = np.zeros((n, 0), dtype=np.uint64)
    text = None
    if other:
        values = features[other].astype(str)
        cells = [values.iloc[:, i].tolist() for i in range(values.shape[1])]
        joined = cells[0] if len(cells) == 1 else ["\x1f".join(row) for row in zip(*cells, strict=True)]
        text = np.empty(n, dtype=object)
        text[:] = joined
    kinds = tuple(c in numeric for c in columns)
    return _Payload("\x1f".join(map(str, columns)).encode(), numbers, text, kinds)


def _row_digests(payload: _Payload) -> list[str]:
    """The hex SHA-256 of every row's message (see ``content_hashes``): one C call per row, no per-row numpy."""
    n, header = len(payload), payload.header
    width = 8 * payload.numbers.shape[1]
    fixed = np.empty((n, len(header) + width), dtype=np.uint8)
    fixed[:, : len(header)] = np.frombuffer(header, dtype=np.uint8)
    fixed[:, len(header) :] = np.ascontiguousarray(payload.numbers).view(np.uint8).reshape(n, width)
    width, blob, sha256 = fixed.shape[1], memoryview(fixed.tobytes()), hashlib.sha256
    if payload.text is None:
        return [sha256(blob[i * width : (i + 1) * width]).hexdigest() for i in range(n)]
    return [
        sha256(blob[i * width : (i + 1) * width].tobytes() + text.encode()).hexdigest()
        for i, text in enumerate(payload.text.tolist())
    ]


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
    """Per record: its id is its content hash, or that hash numbered as a repeat (see ``occurrence_ids``).

    A row whose id and payload bytes are identical to a row checked before (``_VerifiedRows``: in practice
    the anchor, checked once per version) gets that check's answer; every other row is hashed. So a
    generation hashes its new records, and any record that changed, not the whole anchor again."""
    ids = record_ids.astype(str).to_numpy(dtype=object)
    payload = _payload(features)
    known, matches = _recall(ids, payload)
    todo = np.flatnonzero(~known)
    if len(todo):
        matches[todo] = _id_is_hash(ids[todo], _row_digests(payload.rows(todo)))
    _remember(ids, payload, matches)
    return matches


def _id_is_hash(ids: np.ndarray, hashes: list[str]) -> np.ndarray:
    exact = ids == np.array(hashes, dtype=object)
    matches = exact.copy()
    for i in np.flatnonzero(~exact):  # only the repeats (and the bad ids) need a closer look
        record_id, digest = ids[i], hashes[i]
        matches[i] = (
            len(record_id) == 64
            and record_id[:_BASE_DIGITS] == digest[:_BASE_DIGITS]
            and _is_repeat_number(record_id[_BASE_DIGITS:])
        )
    return matches


class _VerifiedRows:
    """Rows whose id was checked against its payload, kept with the exact bytes that were checked.

    Not a digest to trust: a row is only answered from here when its id string and its payload bytes (as
    ``content_hashes`` reads them) are equal to a remembered row's, compared in full, so an edited value or
    id is always hashed again. It lives as long as the process (one run of generations)."""

    def __init__(self, ids: np.ndarray, payload: _Payload, matches: np.ndarray) -> None:
        self.ids, self.payload, self.matches = ids, payload, matches.copy()
        self._lookup: tuple[pd.Index, np.ndarray] | None = None  # built on the first lookup
        self._lock = threading.Lock()  # a pandas Index builds its hash table lazily, not safely across threads

    def recall(self, ids: np.ndarray, payload: _Payload) -> tuple[np.ndarray, np.ndarray]:
        """(known, matches) per row of ``ids``/``payload``."""
        n = len(ids)
        known, matches = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        if payload.layout != self.payload.layout:
            return known, matches
        if n == len(self.ids) and bool((ids == self.ids).all()):  # the same rows in the same order
            positions, found = np.arange(n), np.ones(n, dtype=bool)
        else:
            positions, found = self._find(ids)
        mine = np.flatnonzero(found)
        known[mine] = payload.same_rows(mine, self.payload, positions[mine])
        matches[known] = self.matches[positions[known]]
        return known, matches

    def _find(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each id is among the remembered ones: a 64-bit key from the id's first 16 characters looked up
        in a hash table built once, then the whole id compared (two ids sharing a key only cost a hash)."""
        keys = _lookup_keys(ids)
        with self._lock:  # the experiment's chains check their batches from several threads
            if self._lookup is None:
                known = _lookup_keys(self.ids)
                known = np.zeros(0, dtype=np.uint64) if known is None else known
                first = ~pd.Index(known).duplicated()
                self._lookup = (pd.Index(known[first]), np.flatnonzero(first))
            index, rows = self._lookup
            if keys is None or not len(index):
                return np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids), dtype=bool)
            slot = index.get_indexer(keys)
        found = slot >= 0
        positions = np.where(found, rows[slot], 0)
        found[found] = self.ids[positions[found]] == ids[found]
        return positions, found


def _lookup_keys(ids: np.ndarray) -> np.ndarray | None:
    """A 64-bit key per id from its first 16 characters (None: an id that is not plain ASCII)."""
    try:
        head = ids.astype("S16")
    except UnicodeError:
        return None
    words = np.frombuffer(head.tobytes(), dtype=np.uint64).reshape(-1, 2)
    return (words[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ words[:, 1]


# (column names, which are numbers) -> the largest set of rows checked with that layout
_verified: dict[tuple[bytes, tuple[bool, ...]], _VerifiedRows] = {}
_verified_lock = threading.Lock()


def _recall(ids: np.ndarray, payload: _Payload) -> tuple[np.ndarray, np.ndarray]:
    with _verified_lock:
        rows = _verified.get(payload.layout)
    if rows is None:
        return np.zeros(len(ids), dtype=bool), np.zeros(len(ids), dtype=bool)
    return rows.recall(ids, payload)


def _remember(ids: np.ndarray, payload: _Payload, matches: np.ndarray) -> None:
    """Keep the largest frame checked with these columns (the anchor, whose rows every mixture reuses)."""
    with _verified_lock:
        rows = _verified.get(payload.layout)
        if rows is None or len(ids) >= len(rows.ids):
            _verified[payload.layout] = _VerifiedRows(ids, payload, matches)


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
    dtypes = dict(zip(frame.columns, frame.dtypes, strict=True))  # not frame[c]: indexing per name is slow when wide
    return [c for c in feature_columns(frame) if pd.api.types.is_numeric_dtype(dtypes[c])]


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """Every other feature column: treated as unordered levels."""
    numeric = set(numeric_columns(frame))
    return [c for c in feature_columns(frame) if c not in numeric]
