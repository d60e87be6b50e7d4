"""The real anchor: the non-shrinking set of real records every generation trains on.

Accumulating around a real anchor that never shrinks is what keeps recursive training from
collapsing (Gerstgrasser et al. 2024). The anchor only grows: new real data is appended, and any
removal, edit or reordering is detected against the version the pipeline last recorded, by a
digest over the record ids in file order (the ledger keeps it), not only by what is on disk now.

On disk the anchor is a partitioned Parquet dataset, a folder (``paths.anchor``, named like a file as
Spark, Dask and pyarrow name theirs: ``data/anchor/real.parquet/``) of parts, one per ``init`` and one per
``ingest``, and a manifest ``_manifest.json`` listing the parts in order with their rows and sha256. So an
append writes the new rows only: the new part (temp file + rename), then the manifest (temp file +
rename). The manifest's rename is the publish: a kill before it leaves the anchor as it was, with at most
a part no manifest lists (an orphan: never read, removed by the next run's recovery). Readers read the
listed parts in order, so the record order, and with it the ids digest, is that of one file. This module
is the only reader and writer of that layout. A workspace made before it holds one ``.parquet`` file at
``paths.anchor``: it is read as it is, and ``migrate`` turns it into a dataset of one part (its bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
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
from collapse_guard.records.versioning import file_digest


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
    """Append new real records; returns the new anchor and how many were added (see ``new_records``)."""
    fresh = new_records(anchor, new_real, keep_repeated)
    return pd.concat([anchor, fresh], ignore_index=True), len(fresh)


def new_records(anchor: pd.DataFrame, new_real: pd.DataFrame, keep_repeated: bool = True) -> pd.DataFrame:
    """The records ``new_real`` adds to ``anchor``, in the anchor's columns: what an append writes as its part.

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
    return fresh[anchor.columns].reset_index(drop=True)


def repeats_of(anchor: pd.DataFrame, new_real: pd.DataFrame) -> np.ndarray:
    """Per new record: its values equal an anchor record's (or an earlier new record's)."""
    features = list(feature_columns(anchor))
    base = content_hashes(new_real[features]).str.slice(0, 56)
    known = anchor[RECORD_ID].astype(str).str.slice(0, 56)
    seen = set(known[known.isin(set(base))])  # probe the anchor with the new payloads, not the other way round
    return (base.isin(seen) | base.duplicated()).to_numpy()


def holdout_mask(frame: pd.DataFrame, fraction: float) -> np.ndarray:
    """A held-out real split decided by each record's id, so it is stable as the anchor grows.

    Held-out records are never trained on; they measure the model's real loss and tail coverage.
    """
    buckets = frame[RECORD_ID].str.slice(0, 8).map(lambda h: int(h, 16)).to_numpy(dtype=np.float64)
    return buckets / 0xFFFFFFFF < fraction


# -- the dataset on disk --------------------------------------------------------------------------------------
MANIFEST = "_manifest.json"  # "_": Parquet readers (pyarrow, Spark, DuckDB) skip it when they read the folder
MANIFEST_FORMAT = "collapse-guard-anchor/1"
_PART = re.compile(r"^part-(\d{5,})\.parquet$")


@dataclass(frozen=True)
class Part:
    """One part as the manifest lists it: its file name in the folder, rows and the sha256 of its bytes."""

    file: str
    rows: int
    sha256: str


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def manifest_path(path: Path) -> Path:
    return Path(path) / MANIFEST


def exists(path: Path) -> bool:
    """An anchor was published at ``path``: a dataset with its manifest, or a file of the single-file layout (a
    folder without a manifest is an ``init`` killed before it published, so no anchor)."""
    return Path(path).is_file() or manifest_path(path).is_file()


def is_single_file(path: Path) -> bool:
    """The layout before datasets: one Parquet file at ``paths.anchor`` (``migrate`` converts it)."""
    return Path(path).is_file()


def read_manifest(path: Path) -> list[Part]:
    """The published parts, in record order; DataError naming the manifest if it is missing or unreadable."""
    target = manifest_path(path)
    if not target.is_file():
        raise DataError(
            "the anchor has no manifest (it was never published, or the file was deleted)", path=str(target)
        )
    try:
        payload = json.loads(target.read_text(encoding="utf-8"))
        if payload.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {payload.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        parts = [Part(str(p["file"]), int(p["rows"]), str(p["sha256"])) for p in payload["parts"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"the anchor's manifest cannot be read ({type(exc).__name__}: {exc})", path=str(target)
        ) from exc
    if any(not _PART.match(p.file) for p in parts):
        raise DataError("the anchor's manifest names a file that is not a part", path=str(target))
    return parts


def orphan_parts(path: Path, recorded_rows: int | None = None) -> list[Path]:
    """The part an append killed before it published left: the next part's name, which the manifest does not
    list. Only that one, and only while the manifest is not behind the anchor the ledger recorded
    (``recorded_rows``): a manifest edited to drop published parts must not turn them into "orphans" to delete.
    Any other unlisted part is left where it is (never read; the trust checks report the anchor)."""
    folder = Path(path)
    if not manifest_path(folder).is_file():
        return []  # no manifest to judge by (a killed `init`, or a deleted one that a restore puts back)
    try:
        listed = read_manifest(folder)
    except DataError:
        return []  # an unreadable manifest is the trust checks' to report, not a reason to delete parts
    if recorded_rows is not None and sum(p.rows for p in listed) < recorded_rows:
        return []  # the manifest lists fewer rows than were recorded: edited, not a killed append
    next_part = folder / part_name(len(listed))
    return [next_part] if next_part.is_file() else []


def part_problems(path: Path) -> list[str]:
    """Listed parts that are missing or whose bytes are not the ones the manifest names (hand-edited)."""
    problems = []
    for part in read_manifest(path):
        file = Path(path) / part.file
        if not file.is_file():
            problems.append(f"part {part.file} is missing")
        elif file_digest(file, "sha256") != part.sha256:
            problems.append(f"part {part.file} differs from the bytes its manifest lists (it was edited or replaced)")
    return problems


def content_sha256(path: Path) -> str:
    """What a signed statement names as the anchor's digest: the sha256 of the manifest (which names every
    part's sha256; ``part_problems`` checks the parts against it), or of the file in the single-file layout."""
    target = Path(path) if is_single_file(path) else manifest_path(path)
    return file_digest(target, "sha256")


def create(path: Path, frame: pd.DataFrame) -> Part:
    """A first anchor: a dataset of one part. Refuses to overwrite a published anchor (it only grows)."""
    if exists(path):
        raise AnchorIntegrityError("an anchor exists already: it only grows (append to it)", path=str(path))
    return _publish(Path(path), [], frame)


def append_part(path: Path, frame: pd.DataFrame) -> Part:
    """Append ``frame`` (records in the anchor's columns) as the next part; nothing already written is rewritten."""
    return _publish(Path(path), read_manifest(path), frame)


def _publish(folder: Path, parts: list[Part], frame: pd.DataFrame) -> Part:
    folder.mkdir(parents=True, exist_ok=True)
    name = part_name(len(parts))
    with atomic.atomic_path(folder / name) as tmp:
        frame.to_parquet(tmp, index=False)
        part = Part(name, len(frame), file_digest(tmp, "sha256"))
    _write_manifest(folder, [*parts, part])  # the publish
    return part


def _write_manifest(folder: Path, parts: list[Part]) -> None:
    payload = {"format": MANIFEST_FORMAT, "rows": sum(p.rows for p in parts), "parts": [asdict(p) for p in parts]}
    atomic.write_json(manifest_path(folder), payload)


def migrate(path: Path) -> Part:
    """Turn a single-file anchor into a dataset whose one part is that file, byte for byte (same records, same
    order, same ids digest). The folder is built beside it and swapped in with two renames."""
    path = Path(path)
    if not is_single_file(path):
        raise DataError("not a single-file anchor", path=str(path))
    rows = len(read_records(path))
    building = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".migrating", dir=path.parent))
    try:
        shutil.copyfile(path, building / part_name(0))
        part = Part(part_name(0), rows, file_digest(building / part_name(0), "sha256"))
        _write_manifest(building, [part])
        aside = path.with_name(f".{path.name}.single-file.migrating")
        os.replace(path, aside)
        os.replace(building, path)
        aside.unlink()
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return part


def clean_leftovers(path: Path, recorded_rows: int | None = None) -> list[tuple[str, Path]]:
    """Undo what a killed append or migration left (the caller holds the workspace lock): the part a killed
    append wrote is removed (``orphan_parts``), a migration's half-built folder is removed, and a single-file
    anchor moved aside by a migration killed between its two renames is put back. Returns (what was done, path)
    pairs."""
    path = Path(path)
    orphans = orphan_parts(path, recorded_rows)
    for part in orphans:
        part.unlink()
    done = [
        ("removed a part of the anchor its manifest does not list (an append killed before it published)", p)
        for p in orphans
    ]
    for building in sorted(path.parent.glob(f".{path.name}.*.migrating")):
        if building.is_dir():
            shutil.rmtree(building)
            done.append(("removed the half-built folder of a killed anchor migration", building))
    aside = path.with_name(f".{path.name}.single-file.migrating")
    if aside.is_file():
        if exists(path):
            aside.unlink()
            done.append(("removed the single-file anchor a finished migration had moved aside", aside))
        else:
            os.replace(aside, path)
            done.append(("put back the single-file anchor a killed migration had moved aside", path))
    return done


def load(path: Path) -> pd.DataFrame:
    """Read the anchor: the parts its manifest lists, in order (a single-file anchor as it is). A part that is
    missing or unreadable is a DataError naming it; anything without the provenance columns is not an anchor."""
    path = Path(path)
    if is_single_file(path):
        frame = read_records(path)
    elif path.is_dir():
        frames = [read_records(path / part.file) for part in read_manifest(path)]
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    else:
        raise DataError("the anchor is missing", path=str(path))
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
