"""Exact and near-duplicate documents, within a batch and against the real anchor.

Why: a crawl (or a model's own output) full of copies and near-copies over-weights a few documents, which
narrows what the next model learns — the same loss of diversity that recursive training causes (Lee et al.
2022, "Deduplicating Training Data Makes Language Models Better"; Shumailov et al. 2024). A synthetic
document that nearly copies a real one adds nothing but that narrowing.

Exact duplicates share a 64-bit hash of their normalised token sequence (lowercased word-level tokens).
Near-duplicates share at least ``threshold`` of their word ``shingle_size``-grams (Jaccard similarity),
found with MinHash (Broder 1997) and locality-sensitive hashing. Everything runs on whole batches, the way
datatrove's MinHash pipeline does it at crawl scale (one hash pass, band keys, then grouping equal keys
rather than a Python dict per document), the per-document loops compiled (collapse_guard.text.minhash_kernels):

- signatures are bit-for-bit what ``datasketch.MinHash(scheme="affine32")`` computes from the same 32-bit
  shingle hashes;
- the band layout is datasketch's (``MinHashLSH``'s optimal bands x rows for the threshold and weights); a
  band key is a 64-bit hash of the band's rows, and documents sharing a band key are found in a hash table
  of the keys (within a batch) or by binary search in an index's sorted 32-bit key fingerprints (the anchor,
  and a stream's earlier documents: ``AnchorIndex``, which can keep all but 12 bytes per row on disk);
- every candidate pair is then confirmed with the signatures' estimated Jaccard similarity, so a chance
  band collision drops nothing.

Within a batch the first document is kept and a later one dropped when it nearly copies an earlier *kept*
one; that last step is a short loop over the confirmed pairs only (a few per duplicate document).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.text import minhash_kernels
from collapse_guard.text.sorted_runs import equal_ranges, merge_runs
from collapse_guard.text.tokenizer import batch_token_ids

EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE_IN_BATCH = "near_duplicate_in_batch"
NEAR_DUPLICATE_OF_ANCHOR = "near_duplicate_of_anchor"
IN_BATCH, IN_ANCHOR = "batch", "anchor"
_SIGNATURE_CELLS_PER_CHUNK = 1 << 23  # signature cells per numpy comparison pass (32 MB of uint32)
_BUCKET_CAP = 256  # partners taken from one LSH bucket: bounds the pairs a boilerplate bucket can produce


@dataclass(frozen=True)
class DedupSettings:
    """Word shingle length, MinHash permutations, the Jaccard similarity that makes a near-duplicate, and how
    much the LSH band layout weighs missed pairs against extra candidates (datasketch's ``weights``).

    Missed pairs weigh 0.9 by default: every candidate is verified on its signature, so extra candidates
    cost a little time and never a wrong drop, while a missed near-copy stays in the data. On 10-40 word
    documents this lifts recall at true Jaccard 0.75-0.8 from 76 % to 96 % for 25 % more time.
    """

    shingle_size: int = 3
    num_perm: int = 128
    threshold: float = 0.7
    false_negative_weight: float = 0.9
    seed: int = 1

    def __post_init__(self) -> None:
        if self.shingle_size < 1 or self.num_perm < 2 or not 0.0 < self.threshold <= 1.0:
            raise ValueError("shingle_size >= 1, num_perm >= 2 and 0 < threshold <= 1")
        if not 0.0 <= self.false_negative_weight <= 1.0:
            raise ValueError("false_negative_weight is in [0, 1]")

    def band_layout(self) -> tuple[int, int]:
        """(bands, rows per band) of the LSH index: datasketch ``MinHashLSH``'s optimum for the threshold and
        weights, so recall and candidate counts are those of a datasketch index with the same settings."""
        return _band_layout(self.threshold, self.num_perm, self.false_negative_weight)


@functools.lru_cache(maxsize=16)
def _band_layout(threshold: float, num_perm: int, false_negative_weight: float) -> tuple[int, int]:
    from datasketch import MinHashLSH

    layout = MinHashLSH(threshold, num_perm, weights=(1.0 - false_negative_weight, false_negative_weight))
    return int(layout.b), int(layout.r)


# -- per-document hashes ------------------------------------------------------------------------------------------
def _exact_keys(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each document's whole token sequence (position-keyed, so order matters): equal for
    texts that differ only in case and spacing. 64 bits: a chance collision among 10M documents is ~3e-6."""
    return minhash_kernels.exact_keys(ids, lengths)


@functools.lru_cache(maxsize=16)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's ``affine32`` permutations (a, b) for ``num_perm`` and ``seed``, as uint32 (read-only)."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    a, b = a.astype(np.uint32), b.astype(np.uint32)
    a.flags.writeable = b.flags.writeable = False
    return a, b


def _signatures_of(hashes: np.ndarray, owner: np.ndarray, documents: int, settings: DedupSettings) -> np.ndarray:
    a, b = _permutations(settings.num_perm, settings.seed)
    return minhash_kernels.signatures(hashes, owner, documents, a, b)


def band_keys(signatures: np.ndarray, settings: DedupSettings) -> np.ndarray:
    """(documents, bands) uint64: a hash of each band's rows of the signature. Two documents are LSH
    candidates when any band key is equal."""
    bands, rows = settings.band_layout()
    return minhash_kernels.band_keys(np.ascontiguousarray(signatures, dtype=np.uint32), bands, rows)


@dataclass(frozen=True)
class DocumentHashes:
    """What screening needs of a batch of documents; a row per document, independent of the other rows."""

    exact: np.ndarray  # (n,) uint64 exact-copy key
    signatures: np.ndarray  # (n, num_perm) uint32 MinHash
    bands: np.ndarray  # (n, bands) uint64 LSH band keys
    has_shingles: np.ndarray  # (n,) bool: False for empty documents, which are never near-duplicates

    @classmethod
    def of(cls, texts: Sequence[str], settings: DedupSettings) -> DocumentHashes:
        ids, lengths = batch_token_ids(texts)
        hashes, owner = minhash_kernels.shingle_hashes(ids, lengths, settings.shingle_size)
        signatures = _signatures_of(hashes, owner, len(lengths), settings)
        has_shingles = np.bincount(owner, minlength=len(lengths)) > 0
        return cls(_exact_keys(ids, lengths), signatures, band_keys(signatures, settings), has_shingles)

    @classmethod
    def concat(cls, parts: Sequence[DocumentHashes]) -> DocumentHashes:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _HASH_FIELDS))

    def __len__(self) -> int:
        return len(self.exact)


_HASH_FIELDS = ("exact", "signatures", "bands", "has_shingles")


# -- candidate pairs ----------------------------------------------------------------------------------------------
def _ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i, the positions starts[i] .. starts[i] + counts[i] - 1: (which i, position), flattened."""
    owner = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, starts[owner] + offset


def _similarity(left: np.ndarray, right: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of the signature pairs (left[a[k]], right[b[k]]), in bounded chunks."""
    out = np.empty(len(a))
    step = max(1, _SIGNATURE_CELLS_PER_CHUNK // max(left.shape[1], 1))
    for start in range(0, len(a), step):
        sl = slice(start, start + step)
        out[sl] = np.count_nonzero(left[a[sl]] == right[b[sl]], axis=1) / left.shape[1]
    return out


def _unique_pairs(first: list[np.ndarray], second: list[np.ndarray], span: int) -> tuple[np.ndarray, np.ndarray]:
    if not first:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    packed = np.unique(np.concatenate(first).astype(np.int64) * span + np.concatenate(second))
    return packed // span, packed % span


def _pairs_within(bands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(later, earlier) rows sharing a band key, later > earlier, each pair once, sorted; at most
    ``_BUCKET_CAP`` earliest partners per bucket, so a huge bucket (boilerplate) costs linear, not
    quadratic, time."""
    later, earlier = minhash_kernels.bucket_pairs(np.ascontiguousarray(bands, dtype=np.uint64), _BUCKET_CAP)
    return _unique_pairs([later], [earlier], max(len(bands), 1))


def _best_per_query(
    query: np.ndarray, match: np.ndarray, similarity: np.ndarray, queries: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the confirmed match of highest similarity (ties: the lowest row); -1 and 0 if none."""
    best, best_similarity = np.full(queries, -1, dtype=np.int64), np.zeros(queries)
    confirmed = similarity >= threshold
    query, match, similarity = query[confirmed], match[confirmed], similarity[confirmed]
    order = np.lexsort((match, -similarity, query))
    query, first = np.unique(query[order], return_index=True)
    best[query], best_similarity[query] = match[order][first], similarity[order][first]
    return best, best_similarity


# -- the anchor ----------------------------------------------------------------------------------------------------
_SPILL_ROWS = 65_536  # a segment this large keeps its band tables on disk when its index has a spill directory


def _fingerprints(bands: np.ndarray) -> np.ndarray:
    """The top 32 bits of each 64-bit band key: what the look-up tables hold (half the memory). Keys equal
    in those bits are candidates; a chance collision (one in 2^32 per band) only adds a candidate, which the
    signatures then reject, so it never changes a drop (and the bucket cap is rarely reached)."""
    return (np.asarray(bands, dtype=np.uint64) >> np.uint64(32)).astype(np.uint32)


def _stable_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (uint32) sorted, and the stable argsort that sorts them (ties in position order): one
    plain sort of value << 32 | position, which numpy's vectorised sort does in ~60 % of the time of a
    stable argsort (the index's look-up tables sort 60 bands of every crawl batch)."""
    packed = (values.astype(np.uint64) << np.uint64(32)) | np.arange(len(values), dtype=np.uint64)
    packed.sort()
    return (packed >> np.uint64(32)).astype(np.uint32), (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)


_WHOLE_BAND_READ = 1024  # positions wanted, times this, above a band's rows: read the whole band instead


def _pread_rows(path: Path, rows: np.ndarray, row_bytes: int, offset: int, width: int) -> np.ndarray:
    """Rows (sorted, distinct) of fixed-size records of a file, read with ``pread``, consecutive rows in
    one call. Not a memory map: mapped pages count as the process's resident memory until unmapped, and the
    kernel maps 64 KB around every page touched, so reading scattered candidates through a map of a
    multi-GB signature file put gigabytes in the resident set."""
    out = np.empty((len(rows), width), dtype=np.uint32)
    if not len(rows):
        return out
    buffer = memoryview(out).cast("B")
    starts = np.flatnonzero(np.diff(rows, prepend=rows[0] - 2) != 1)  # runs of consecutive rows
    ends = np.append(starts[1:], len(rows))
    with open(path, "rb", buffering=0) as handle:
        descriptor = handle.fileno()
        for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
            want = buffer[first * row_bytes : last * row_bytes]
            got = os.preadv(descriptor, [want], offset + int(rows[first]) * row_bytes)
            if got != len(want):
                raise OSError(f"{path}: short read ({got} of {len(want)} bytes)")
    return out


class _Rows:
    """An append-only (rows, width) uint32 table numbered from 0, in memory or, with a ``directory``, in a
    file there of which only the rows asked for are read (``_pread_rows``: nothing stays resident)."""

    def __init__(self, width: int, directory: Path | None = None) -> None:
        self.width, self.rows = width, 0
        self._memory = np.zeros((0, width), dtype=np.uint32)
        self._path: Path | None = None
        if directory is not None:
            handle, name = tempfile.mkstemp(prefix="rows-", suffix=".u32", dir=directory)
            os.close(handle)
            self._path = Path(name)
            weakref.finalize(self, self._path.unlink, missing_ok=True)

    def append(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=np.uint32).reshape(-1, self.width)
        if self._path is not None:
            with open(self._path, "ab") as handle:
                values.tofile(handle)
        else:  # grow by doubling: appending batch after batch stays linear
            if self.rows + len(values) > len(self._memory):
                grown = np.empty((max(2 * len(self._memory), self.rows + len(values)), self.width), np.uint32)
                grown[: self.rows] = self._memory[: self.rows]
                self._memory = grown
            self._memory[self.rows : self.rows + len(values)] = values
        self.rows += len(values)

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if self._path is None:
            return self._memory[rows]
        if not len(rows) or not self.rows:
            return np.zeros((len(rows), self.width), dtype=np.uint32)
        wanted, inverse = np.unique(rows, return_inverse=True)
        return _pread_rows(self._path, wanted, 4 * self.width, 0, self.width)[inverse.reshape(-1)]

    def copy(self) -> _Rows:
        twin = _Rows(self.width, None if self._path is None else self._path.parent)
        if self._path is None:
            twin._memory, twin.rows = self._memory[: self.rows].copy(), self.rows
        else:
            shutil.copyfile(self._path, twin._path)
            twin.rows = self.rows
        return twin


class _BandTable:
    """A segment's (bands, rows with shingles) uint32 table, filled band by band with ``put``: in memory, or
    for a large segment of a spilling index a raw file in ``directory``, read one band at a time through a
    transient map (``band``). Spilled, a segment keeps in memory only its exact keys: a crawl's
    look-up tables grow on disk, not in the resident set."""

    def __init__(self, bands: int, rows: int, directory: Path | None) -> None:
        self.bands, self.rows, self._filled = bands, rows, 0
        self._table: np.ndarray | None = np.empty((bands, rows), dtype=np.uint32)
        self._path: Path | None = None
        self._handle = None
        if directory is not None and rows >= _SPILL_ROWS:
            handle, name = tempfile.mkstemp(prefix="bands-", suffix=".u32", dir=directory)
            self._path, self._table, self._handle = Path(name), None, os.fdopen(handle, "wb")
            weakref.finalize(self, self._path.unlink, missing_ok=True)

    def put(self, values: np.ndarray) -> None:
        """The next band's values."""
        if self._table is not None:
            self._table[self._filled] = values
        else:
            np.ascontiguousarray(values, dtype=np.uint32).tofile(self._handle)
        self._filled += 1
        if self._filled == self.bands and self._handle is not None:
            self._handle.close()
            self._handle = None

    def band(self, band: int) -> np.ndarray:
        """One band, read-only. Spilled, a transient map of the band's part of the file: a lookup touches
        only the pages its needles fall in, with no copy of the band per crawl batch (an estimate of the
        copy's share at 10M documents, not yet measured), and the pages leave the resident set when the caller
        drops the view."""
        if self._table is not None:
            return self._table[band]
        if not self.rows:
            return np.zeros(0, dtype=np.uint32)
        return np.memmap(self._path, dtype=np.uint32, mode="r", offset=4 * band * self.rows, shape=(self.rows,))

    def take(self, band: int, positions: np.ndarray) -> np.ndarray:
        if self._table is not None:
            return self._table[band][positions]
        if len(positions) * _WHOLE_BAND_READ > self.rows:  # many: one sequential read of the band is cheaper
            return self.band(band)[positions]
        wanted, inverse = np.unique(positions, return_inverse=True)
        return _pread_rows(self._path, wanted, 4, 4 * band * self.rows, 1)[inverse.reshape(-1)].reshape(-1)


class _Segment:
    """A run of consecutive rows with sorted look-up tables: exact keys with their rows, and per band the
    32-bit fingerprints of the rows that can be near-duplicates (``has_shingles``) with their rows. About
    12 + 8 x bands bytes per row; a large segment of a spilling index keeps its band tables on disk (then
    12 bytes per row in memory), and the signatures live in the index's row store (``_Rows``), not here."""

    def __init__(
        self,
        offset: int,
        size: int,
        exact_sorted: np.ndarray,
        exact_rows: np.ndarray,
        band_keys: _BandTable,
        band_rows: _BandTable,
    ) -> None:
        self.offset, self.size = offset, size
        self.exact_sorted, self.exact_rows = exact_sorted, exact_rows
        self.band_keys, self.band_rows = band_keys, band_rows  # per band: fingerprints sorted, their rows

    @classmethod
    def of(cls, offset: int, hashes: DocumentHashes, directory: Path | None) -> _Segment:
        exact_rows = np.argsort(hashes.exact, kind="stable")  # the first row of each key comes first
        near = np.flatnonzero(hashes.has_shingles)
        fingerprints = _fingerprints(hashes.bands[near])
        bands = fingerprints.shape[1]
        keys, rows = _BandTable(bands, len(near), directory), _BandTable(bands, len(near), directory)
        for band in range(bands):
            sorted_keys, order = _stable_order(fingerprints[:, band])  # ties keep row order
            keys.put(sorted_keys)
            rows.put(near[order])
        return cls(offset, len(hashes), hashes.exact[exact_rows], exact_rows.astype(np.uint32), keys, rows)

    @classmethod
    def merged(cls, older: _Segment, newer: _Segment, directory: Path | None) -> _Segment:
        """Both segments as one (``newer``'s rows follow ``older``'s), band by band (``merge_runs``)."""

        shift = np.uint32(older.size)
        exact_sorted, exact_rows = merge_runs(
            older.exact_sorted, older.exact_rows, newer.exact_sorted, newer.exact_rows + shift
        )
        bands, near = older.band_keys.bands, older.band_keys.rows + newer.band_keys.rows
        keys, rows = _BandTable(bands, near, directory), _BandTable(bands, near, directory)
        for band in range(bands):
            key, row = merge_runs(
                older.band_keys.band(band),
                older.band_rows.band(band),
                newer.band_keys.band(band),
                newer.band_rows.band(band) + shift,
            )
            keys.put(key)
            rows.put(row)
        return cls(older.offset, older.size + newer.size, exact_sorted, exact_rows, keys, rows)

    def __len__(self) -> int:
        return self.size

    def exact_match(self, keys: np.ndarray) -> np.ndarray:
        if not len(self.exact_sorted):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.exact_sorted, keys), len(self.exact_sorted) - 1)
        return np.where(self.exact_sorted[at] == keys, self.exact_rows[at].astype(np.int64) + self.offset, -1)

    def near_candidates(self, queries: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """(query, row) of every query whose fingerprint in some band equals a row's: ``queries`` holds per
        band the queries' fingerprints sorted, and their query numbers in that order (sorted needles make
        the binary search cache-friendly). Only hits are searched a second time and read their rows."""
        found_query, found_row = [], []
        if not self.band_keys.rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        for band, (needles, query_order) in enumerate(queries):
            low, count = equal_ranges(self.band_keys.band(band), needles)
            hit = np.flatnonzero(count)
            if not len(hit):
                continue
            query, position = _ranges(low[hit], np.minimum(count[hit], _BUCKET_CAP))
            found_query.append(query_order[hit][query])
            found_row.append(self.band_rows.take(band, position).astype(np.int64))
        query, row = _unique_pairs(found_query, found_row, max(self.size, 1))
        return query, row + self.offset

    def exact_by_row(self) -> np.ndarray:
        exact = np.empty(self.size, dtype=np.uint64)
        exact[self.exact_rows] = self.exact_sorted
        return exact

    def near_rows(self) -> np.ndarray:
        return np.sort(self.band_rows.band(0)) if self.band_rows.bands else np.zeros(0, np.uint32)


class AnchorIndex:
    """The anchor's exact keys, MinHash signatures and LSH band keys with sorted look-up tables: built once
    (or loaded: collapse_guard.text.index_file), grown with new rows only, queried by every batch.

    Rows live in a few segments of geometrically growing size (a log-structured merge): adding rows sorts
    only the new ones, and merges the newest segments when they reach the size of the one before, so a
    crawl screened batch by batch against everything kept so far costs O(n log n), not O(n^2).

    Memory: the look-up tables hold 12 bytes per row plus 8 per band (32-bit band fingerprints and row
    numbers). With a ``spill_dir``, the signatures (4 bytes per permutation per row, most of the index) and
    the band tables of segments of ``_SPILL_ROWS`` rows or more live in files there; a query reads the
    band tables one band at a time and only its candidates' signatures, and about 12 bytes per row stay in
    memory: a crawl of millions of documents is screened in bounded memory (``ScreeningStream``)."""

    def __init__(
        self, texts: Sequence[str], settings: DedupSettings | None = None, spill_dir: Path | None = None
    ) -> None:
        self.settings = settings or DedupSettings()
        self.spill_dir = None if spill_dir is None else Path(spill_dir)
        self._segments: list[_Segment] = []
        self._signatures = _Rows(self.settings.num_perm, self.spill_dir)
        self.add(DocumentHashes.of(list(texts), self.settings))

    @classmethod
    def from_hashes(cls, hashes: DocumentHashes, settings: DedupSettings, spill_dir: Path | None = None) -> AnchorIndex:
        index = cls([], settings, spill_dir)
        index.add(hashes)
        return index

    def add(self, hashes: DocumentHashes) -> None:
        """Append rows (in place): the new rows are numbered after the existing ones."""
        if len(hashes):
            self._segments.append(_Segment.of(len(self), hashes, self.spill_dir))
            self._signatures.append(hashes.signatures)
        while len(self._segments) >= 2 and len(self._segments[-2]) <= 2 * len(self._segments[-1]):
            newest, previous = self._segments.pop(), self._segments.pop()
            self._segments.append(_Segment.merged(previous, newest, self.spill_dir))

    def extended(self, texts: Sequence[str]) -> AnchorIndex:
        """A new index: this one with ``texts`` appended as the next rows (only they are hashed)."""
        grown = AnchorIndex([], self.settings, self.spill_dir)
        grown._segments = list(self._segments)  # segments are never changed, only replaced
        grown._signatures = self._signatures.copy()
        grown.add(DocumentHashes.of(list(texts), self.settings))
        return grown

    @property
    def hashes(self) -> DocumentHashes:
        """Every row's hashes (band keys recomputed from the signatures): for saving the index."""
        rows = len(self)
        exact = np.zeros(rows, dtype=np.uint64)
        has_shingles = np.zeros(rows, dtype=bool)
        for segment in self._segments:
            exact[segment.offset : segment.offset + len(segment)] = segment.exact_by_row()
            has_shingles[segment.near_rows().astype(np.int64) + segment.offset] = True
        signatures = self.signatures
        return DocumentHashes(exact, signatures, band_keys(signatures, self.settings), has_shingles)

    @property
    def signatures(self) -> np.ndarray:
        return self._signatures.take(np.arange(len(self)))

    def __len__(self) -> int:
        return sum(len(s) for s in self._segments)

    def exact_match(self, keys: np.ndarray) -> np.ndarray:
        """The first row with each exact key, or -1."""
        found = np.full(len(keys), -1, dtype=np.int64)
        for segment in self._segments:  # in row order: the first segment that has a key has its first row
            missing = np.flatnonzero(found < 0)
            found[missing] = segment.exact_match(keys[missing])
        return found

    def near_match(self, signatures: np.ndarray, bands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per query signature, the most similar row reaching the threshold (-1 if none; ties: the lowest
        row), and that similarity. Candidates: rows sharing a band fingerprint (binary search in sorted
        tables), confirmed on the signatures (only the candidates' rows are read)."""
        if not self._segments or not len(signatures):
            return np.full(len(signatures), -1, dtype=np.int64), np.zeros(len(signatures))
        fingerprints = _fingerprints(bands)
        queries = []
        for band in range(fingerprints.shape[1]):
            queries.append(_stable_order(fingerprints[:, band]))
        found = [s.near_candidates(queries) for s in self._segments]
        query, row = (np.concatenate(parts) for parts in zip(*found, strict=True))
        similarity = np.empty(len(query))
        step = max(1, _SIGNATURE_CELLS_PER_CHUNK // max(signatures.shape[1], 1))
        for start in range(0, len(query), step):
            chunk = slice(start, start + step)
            stored = self._signatures.take(row[chunk])
            similarity[chunk] = np.count_nonzero(signatures[query[chunk]] == stored, axis=1) / signatures.shape[1]
        return _best_per_query(query, row, similarity, len(signatures), self.settings.threshold)


# -- the batch ----------------------------------------------------------------------------------------------------
class DuplicateReport:
    """Per-document verdicts, filled in as the checks run; ``first_row`` numbers the batch in its stream."""

    def __init__(self, size: int, first_row: int = 0) -> None:
        self.first_row = first_row
        self.reason = np.full(size, "", dtype=object)
        self.matched_in = np.full(size, "", dtype=object)
        self.duplicate_of = np.full(size, -1, dtype=np.int64)
        self.similarity = np.zeros(size)

    def mark(self, rows: np.ndarray, reason: str, matched_in: str, duplicate_of, similarity) -> None:
        self.reason[rows], self.matched_in[rows] = reason, matched_in
        self.duplicate_of[rows], self.similarity[rows] = duplicate_of, similarity

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "drop": self.reason != "",
                "reason": self.reason,
                "matched_in": self.matched_in,
                "duplicate_of": self.duplicate_of,
                "similarity": self.similarity,
            }
        )


def find_duplicates(
    texts: Sequence[str], anchor: AnchorIndex | None = None, settings: DedupSettings | None = None
) -> pd.DataFrame:
    """One row per document: ``drop``, ``reason`` ("" to keep), ``matched_in`` ("batch"/"anchor"/""),
    ``duplicate_of`` (row in the batch or the anchor, -1 if none) and ``similarity`` (estimated Jaccard).

    The first reason that applies wins, in this order: exact duplicate (of the anchor, then of an earlier
    document), near-duplicate of the anchor, near-duplicate of an earlier kept document. The first copy in
    the batch is kept; the others go. With an anchor, its settings apply (signatures must be comparable).
    """
    if anchor is not None and settings is not None and settings != anchor.settings:
        raise ValueError("a batch is compared with an anchor under the anchor's settings; do not pass others")
    settings = anchor.settings if anchor is not None else (settings or DedupSettings())
    return screen_hashes(DocumentHashes.of(list(texts), settings), anchor, settings).frame()


def screen_hashes(
    batch: DocumentHashes,
    anchor: AnchorIndex | None,
    settings: DedupSettings,
    earlier: AnchorIndex | None = None,
) -> DuplicateReport:
    """``find_duplicates`` on a batch already hashed. With ``earlier`` (every document of the same stream
    before this batch, ``has_shingles`` set only on those kept: see ``ScreeningStream``), this batch is
    checked against them too, and batch rows are numbered after them: screening a stream batch by batch
    gives the verdicts of screening it whole."""
    first_row = len(earlier) if earlier is not None else 0
    report = DuplicateReport(len(batch), first_row)
    _mark_exact(batch.exact, anchor, earlier, report)
    _mark_near(batch, anchor, earlier, settings, report)
    return report


def _mark_exact(keys: np.ndarray, anchor: AnchorIndex | None, earlier: AnchorIndex | None, report) -> None:
    remaining = np.ones(len(keys), dtype=bool)
    for index, where in ((anchor, IN_ANCHOR), (earlier, IN_BATCH)):
        if index is not None:
            rows = np.flatnonzero(remaining)
            first = index.exact_match(keys[rows])
            hit = first >= 0
            report.mark(rows[hit], EXACT_DUPLICATE, where, first[hit], 1.0)
            remaining[rows[hit]] = False
    rows = np.flatnonzero(remaining)
    _, first_index, inverse = np.unique(keys[rows], return_index=True, return_inverse=True)
    first_row = rows[first_index][inverse.reshape(-1)]
    copies = first_row != rows
    report.mark(rows[copies], EXACT_DUPLICATE, IN_BATCH, first_row[copies] + report.first_row, 1.0)


def _mark_near(
    batch: DocumentHashes,
    anchor: AnchorIndex | None,
    earlier: AnchorIndex | None,
    settings: DedupSettings,
    report: DuplicateReport,
) -> None:
    """Near-copies of the anchor, then of earlier kept documents (all at once), then of documents of this
    batch kept so far (greedy, in order)."""
    rows = np.flatnonzero((report.reason == "") & batch.has_shingles)
    for index, reason, where in (
        (anchor, NEAR_DUPLICATE_OF_ANCHOR, IN_ANCHOR),
        (earlier, NEAR_DUPLICATE_IN_BATCH, IN_BATCH),
    ):
        if index is not None and len(rows):
            match, similarity = index.near_match(batch.signatures[rows], batch.bands[rows])
            hit = match >= 0
            report.mark(rows[hit], reason, where, match[hit], similarity[hit])
            rows = rows[~hit]
    later, earlier_row = _pairs_within(batch.bands[rows])
    similarity = _similarity(batch.signatures, batch.signatures, rows[later], rows[earlier_row])
    confirmed = similarity >= settings.threshold
    later, earlier_row, similarity = later[confirmed], earlier_row[confirmed], similarity[confirmed]
    order = np.lexsort((earlier_row, -similarity, later))  # per later row: most similar first
    kept = np.ones(len(rows), dtype=bool)
    dropped, partner, partner_similarity = [], [], []
    for i, j, s in zip(later[order].tolist(), earlier_row[order].tolist(), similarity[order].tolist(), strict=True):
        if kept[i] and kept[j]:  # j < i, so kept[j] is already final
            kept[i] = False
            dropped.append(i)
            partner.append(j)
            partner_similarity.append(s)
    dropped_rows, partner_rows = rows[np.asarray(dropped, np.int64)], rows[np.asarray(partner, np.int64)]
    report.mark(
        dropped_rows, NEAR_DUPLICATE_IN_BATCH, IN_BATCH, partner_rows + report.first_row, np.asarray(partner_similarity)
    )


class ScreeningStream:
    """Screens a stream of batches against the anchor and against everything earlier in the stream, with
    the verdicts of screening the stream whole; only the hashes of earlier documents are kept, and of those
    only the look-up tables stay in memory when the stream spills (``spill_dir``)."""

    def __init__(
        self, anchor: AnchorIndex | None, settings: DedupSettings | None = None, spill_dir: Path | None = None
    ) -> None:
        """With ``spill_dir`` (a folder the caller removes afterwards), the earlier documents' signatures and
        large look-up tables go to files there: memory then grows by about 12 bytes per document (their
        exact keys) instead of about 700."""
        self.anchor = anchor
        self.settings = anchor.settings if anchor is not None else (settings or DedupSettings())
        self.earlier = AnchorIndex([], self.settings, spill_dir)

    def screen(self, texts: Sequence[str]) -> pd.DataFrame:
        """``find_duplicates`` of the next batch; ``duplicate_of`` in the batch counts rows of the stream."""
        return self.screen_hashed(DocumentHashes.of(list(texts), self.settings))

    def screen_hashed(self, hashes: DocumentHashes) -> pd.DataFrame:
        """``screen`` of a batch hashed elsewhere (hashing, the costly part, is independent per batch and can
        run in parallel: collapse_guard.flows.crawl_screening); batches must come in stream order."""
        report = screen_hashes(hashes, self.anchor, self.settings, self.earlier)
        near_candidates = (report.reason == "") & hashes.has_shingles
        self.earlier.add(replace(hashes, has_shingles=near_candidates))
        return report.frame()
