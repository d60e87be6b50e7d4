"""The anchor's near-duplicate index on disk, beside the anchor and versioned with it.

Why: hashing a million-document anchor takes longer than screening a batch against it, and the anchor only
grows. The index (exact keys, MinHash signatures, LSH band keys: collapse_guard.text.dedup.DocumentHashes)
is saved as one ``.npz`` with the anchor prefix it was built for: its row count and the digest of those
rows' record ids (collapse_guard.records.anchor.ids_digest, the ledger's anchor digest). Because the
anchor is append-only, an index built for the first n rows of today's anchor is still right for them, so
it is extended with the new rows only; one whose prefix, settings or format does not match is rebuilt,
and the caller is told which of the three happened.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.records import atomic
from collapse_guard.records.anchor import ids_digest
from collapse_guard.records.provenance import RECORD_ID
from collapse_guard.text.corpus import TEXT
from collapse_guard.text.dedup import AnchorIndex, DedupSettings, DocumentHashes

INDEX_FORMAT = "collapse-guard-text-index/1"
INDEX_NAME = "text.index.npz"
_FIELDS = ("exact", "signatures", "bands", "has_shingles")


def index_path(anchor_path: Path) -> Path:
    """Where the index of the anchor at ``anchor_path`` lives: beside it (the anchor is a folder of parts that
    DVC versions as one; the index is versioned on its own)."""
    return Path(anchor_path).parent / INDEX_NAME


@dataclass(frozen=True)
class SyncedIndex:
    """An index that matches the anchor, and how it came to: ``loaded``, ``extended``, ``built`` (no file yet) or
    ``rebuilt`` (a file that could not serve)."""

    index: AnchorIndex
    status: str
    detail: str = ""
    added_rows: int = 0


def save(path: Path, index: AnchorIndex, anchor_rows_digest: str) -> None:
    """Write the index atomically (a killed write leaves the previous file), stamped with its anchor prefix."""
    meta = {
        "format": INDEX_FORMAT,
        "rows": len(index),
        "anchor_digest": anchor_rows_digest,
        "settings": asdict(index.settings),
    }
    with atomic.atomic_open(Path(path), "wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **{f: getattr(index.hashes, f) for f in _FIELDS})


def _read(path: Path) -> tuple[dict, DocumentHashes] | str:
    """The stored metadata and hashes, or why they cannot be used."""
    if not Path(path).exists():
        return "no index file yet"
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            hashes = DocumentHashes(*(stored[f] for f in _FIELDS))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        return f"unreadable index file ({type(exc).__name__}: {exc})"
    if meta.get("format") != INDEX_FORMAT:
        return f"index format {meta.get('format')!r}, not {INDEX_FORMAT!r}"
    if len(hashes) != meta.get("rows"):
        return "index file is truncated"
    return meta, hashes


def sync(path: Path, anchor: pd.DataFrame, settings: DedupSettings, write: bool = True) -> SyncedIndex:
    """The index of ``anchor`` (its ``text`` column, rows in order): loaded from ``path`` when it was built
    for exactly these rows, extended when it was built for an earlier prefix, otherwise rebuilt. With
    ``write``, a changed index is saved back (callers that version the anchor then version the file)."""
    texts = anchor[TEXT].astype(str)
    stored = _read(path)
    reason = stored if isinstance(stored, str) else _mismatch(stored[0], anchor, settings)
    if reason:
        index = AnchorIndex(texts.tolist(), settings)
        status = "rebuilt" if Path(path).exists() else "built"  # a first index is news to no one
        result = SyncedIndex(index, status, reason, len(anchor))
    else:
        meta, hashes = stored
        index = AnchorIndex.from_hashes(hashes, settings)
        if meta["rows"] == len(anchor):
            return SyncedIndex(index, "loaded")
        index = index.extended(texts.iloc[meta["rows"] :].tolist())
        result = SyncedIndex(index, "extended", f"rows {meta['rows']} -> {len(anchor)}", len(anchor) - meta["rows"])
    if write:
        save(path, result.index, ids_digest(anchor[RECORD_ID]))
    return result


def _mismatch(meta: dict, anchor: pd.DataFrame, settings: DedupSettings) -> str:
    """Why a stored index cannot serve ``anchor`` ("" if it can)."""
    if meta.get("settings") != asdict(settings):
        return f"index built with settings {meta.get('settings')}, the anchor's are {asdict(settings)}"
    rows = int(meta["rows"])
    if rows > len(anchor):
        return f"index has {rows} rows, the anchor only {len(anchor)}"
    if ids_digest(anchor[RECORD_ID].iloc[:rows]) != meta.get("anchor_digest"):
        return f"the anchor's first {rows} records are not the ones the index was built for"
    return ""
