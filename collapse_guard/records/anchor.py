"""The real anchor: the non-shrinking set of real records every generation trains on.

Accumulating around a real anchor that never shrinks is what keeps recursive training from
collapsing (Gerstgrasser et al. 2024). The anchor only grows: new real data is appended, and any
removal, edit or reordering is detected against the version the pipeline last recorded, by a
digest over the record ids in file order (the ledger keeps it), not only by what is on disk now.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.errors import AnchorIntegrityError, DataError
from collapse_guard.records import atomic
from collapse_guard.records.provenance import (
    PROVENANCE_COLUMNS,
    REAL,
    RECORD_ID,
    SOURCE,
    content_hashes,
    feature_columns,
    occurrence_ids,
    stamp_real,
)


@dataclass(frozen=True)
class AnchorRecord:
    """What the pipeline remembers of the anchor a generation used."""

    rows: int
    digest: str  # sha256 over the record ids, in file order
    dvc_md5: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def ids_digest(record_ids: list[str] | pd.Series) -> str:
    digest = hashlib.sha256()
    for record_id in record_ids:
        digest.update(str(record_id).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def describe(frame: pd.DataFrame, dvc_md5: str = "") -> AnchorRecord:
    return AnchorRecord(rows=len(frame), digest=ids_digest(frame[RECORD_ID]), dvc_md5=dvc_md5)


def read_records(path: Path) -> pd.DataFrame:
    """Read a Parquet or CSV data file, turning any parse failure into a DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError("data file not found", path=str(path))
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow and the csv parser raise many types for a corrupt file
        raise DataError(f"cannot read data file ({type(exc).__name__}: {exc})", path=str(path)) from exc


def as_real_records(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """User data arrives without provenance: stamp it as real, from ``origin``."""
    missing = [c for c in PROVENANCE_COLUMNS if c not in frame.columns]
    if not missing:
        return frame.reset_index(drop=True)
    if len(missing) != len(PROVENANCE_COLUMNS):
        raise DataError(f"real data has only part of the provenance columns (missing {missing})", path=origin)
    features = frame[feature_columns(frame)]
    if features.shape[1] == 0:
        raise DataError("real data has no feature columns", path=origin)
    return stamp_real(features, origin=origin)


def check_append_only(frame: pd.DataFrame, recorded: AnchorRecord | None, path: str) -> list[str]:
    """Problems with ``frame`` as a successor of the recorded anchor; empty when it only grew."""
    if recorded is None:
        return []
    problems = []
    if len(frame) < recorded.rows:
        problems.append(
            f"anchor has {len(frame)} rows, fewer than the {recorded.rows} the pipeline last recorded "
            f"({recorded.rows - len(frame)} removed) in {path}"
        )
    elif ids_digest(frame[RECORD_ID].iloc[: recorded.rows]) != recorded.digest:
        problems.append(
            f"the first {recorded.rows} anchor records differ from the version the pipeline last recorded "
            f"(a record was edited, removed or reordered) in {path}"
        )
    return problems


def append(anchor: pd.DataFrame, new_real: pd.DataFrame, keep_repeated: bool = True) -> tuple[pd.DataFrame, int]:
    """Append new real records; returns the new anchor and how many were added.

    A record equal to one already in the anchor is another record (two respondents with the same answers):
    it is kept and numbered as a repeat (``provenance.occurrence_ids``), unless ``keep_repeated`` is False.
    """
    features = list(feature_columns(anchor))
    if list(feature_columns(new_real)) != features:
        raise DataError(f"new real data has features {feature_columns(new_real)}, the anchor has {features}")
    if (new_real[SOURCE] != REAL).any():
        raise AnchorIntegrityError("only real records may be appended to the anchor")
    fresh = new_real if keep_repeated else new_real[~repeats_of(anchor, new_real)]
    fresh = fresh.assign(**{RECORD_ID: occurrence_ids(fresh[features], existing=anchor[RECORD_ID])})
    return pd.concat([anchor, fresh[anchor.columns]], ignore_index=True), len(fresh)


def repeats_of(anchor: pd.DataFrame, new_real: pd.DataFrame) -> np.ndarray:
    """Per new record: its values equal an anchor record's (or an earlier new record's)."""
    features = list(feature_columns(anchor))
    seen = set(anchor[RECORD_ID].astype(str).str.slice(0, 56))
    base = content_hashes(new_real[features]).str.slice(0, 56)
    return (base.isin(seen) | base.duplicated()).to_numpy()


def holdout_mask(frame: pd.DataFrame, fraction: float) -> np.ndarray:
    """A held-out real split decided by each record's id, so it is stable as the anchor grows.

    Held-out records are never trained on; they measure the model's real loss and tail coverage.
    """
    buckets = frame[RECORD_ID].str.slice(0, 8).map(lambda h: int(h, 16)).to_numpy(dtype=np.float64)
    return buckets / 0xFFFFFFFF < fraction


def write(path: Path, frame: pd.DataFrame) -> None:
    atomic.write_parquet(path, frame)


def load(path: Path) -> pd.DataFrame:
    """Read the anchor; a file without the provenance columns is not an anchor."""
    frame = read_records(path)
    missing = [c for c in PROVENANCE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"anchor lacks provenance columns {missing}", path=str(path))
    return frame


def split(frame: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, held-out) parts of the anchor."""
    held = holdout_mask(frame, holdout_fraction)
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


@dataclass(frozen=True)
class AnchorSplit:
    """One anchor version, read once per generation: the whole frame, its train and held-out parts, and
    what the ledger would record of it. Everything that depends only on the anchor is keyed by ``digest``."""

    frame: pd.DataFrame = field(repr=False)
    train: pd.DataFrame = field(repr=False)
    held_out: pd.DataFrame = field(repr=False)
    record: AnchorRecord

    @property
    def digest(self) -> str:
        return self.record.digest


def load_split(path: Path, holdout_fraction: float) -> AnchorSplit:
    frame = load(path)
    train, held_out = split(frame, holdout_fraction)
    return AnchorSplit(frame, train, held_out, describe(frame))
