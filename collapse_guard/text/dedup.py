"""Exact and near-duplicate documents, within a batch and against the real anchor.

Why: a crawl (or a model's own output) full of copies and near-copies over-weights a few documents, which
narrows what the next model learns — the same loss of diversity that recursive training causes (Lee et al.
2022, "Deduplicating Training Data Makes Language Models Better"; Shumailov et al. 2024). A synthetic
document that nearly copies a real one adds nothing but that narrowing.

Exact duplicates share the hash of their normalised text (lowercased word-level tokens). Near-duplicates
share at least ``threshold`` of their word ``shingle_size``-grams (Jaccard similarity), found with MinHash
(Broder 1997) and locality-sensitive hashing (the ``datasketch`` MinHashLSH index, which picks the band
layout for the threshold). Signatures are computed for the whole batch at once in numpy, bit-for-bit what
``datasketch.MinHash(scheme="affine32")`` computes from the same 32-bit shingle hashes; LSH candidates are
then confirmed with the signatures' estimated Jaccard similarity, so a chance band collision drops nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from collapse_guard.text.hashing import hash_rows
from collapse_guard.text.tokenizer import token_ids, words

EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE_IN_BATCH = "near_duplicate_in_batch"
NEAR_DUPLICATE_OF_ANCHOR = "near_duplicate_of_anchor"
IN_BATCH, IN_ANCHOR = "batch", "anchor"
_SIGNATURE_CELLS_PER_CHUNK = 1 << 23  # shingles x permutations per numpy pass (32 MB of uint32)
_EMPTY_SLOT = np.uint32(0xFFFFFFFF)


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


def normalised_hash(text: str) -> str:
    """BLAKE2b of the text's lowercased tokens joined by single spaces: case and spacing do not matter."""
    return hashlib.blake2b(" ".join(words(text)).encode("utf-8"), digest_size=16).hexdigest()


# -- MinHash signatures -------------------------------------------------------------------------------------------
def shingle_hashes(texts: Sequence[str], shingle_size: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every document's word ``shingle_size``-grams, concatenated, and which document each
    belongs to. A document shorter than one shingle is one shingle of all its tokens; an empty one has none."""
    documents = [token_ids(words(t)) for t in texts]
    lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
    hashes, owners = [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
    long_enough = lengths >= shingle_size
    if long_enough.any():
        stream = np.concatenate([documents[i] for i in np.flatnonzero(long_enough)])
        owner = np.repeat(np.flatnonzero(long_enough), lengths[long_enough])
        windows = np.lib.stride_tricks.sliding_window_view(stream, shingle_size)
        inside = owner[: len(windows)] == owner[shingle_size - 1 :]
        hashes.append(hash_rows(windows[inside]))
        owners.append(owner[: len(windows)][inside])
    short = np.flatnonzero((lengths > 0) & ~long_enough)
    if len(short):
        padded = np.zeros((len(short), shingle_size), dtype=np.uint64)
        for row, i in enumerate(short):
            padded[row, : lengths[i]] = documents[i]
        hashes.append(hash_rows(padded))
        owners.append(short)
    hashes_64, owner = np.concatenate(hashes), np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    return (hashes_64[order] >> np.uint64(32)).astype(np.uint32), owner[order]


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser: datasketch's affine32 scheme pre-mixes every input hash with it."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhash_signatures(texts: Sequence[str], settings: DedupSettings) -> np.ndarray:
    """(documents, num_perm) uint32 MinHash signatures; an empty document's row is all 0xFFFFFFFF.

    Row i equals ``datasketch.MinHash(num_perm, seed, scheme="affine32", hashfunc=identity)`` updated with
    document i's 32-bit shingle hashes, computed for all documents at once.
    """
    hashes, owner = shingle_hashes(texts, settings.shingle_size)
    a, b = _permutations(settings.num_perm, settings.seed)
    signatures = np.full((len(texts), settings.num_perm), _EMPTY_SLOT, dtype=np.uint32)
    mixed = _fmix32(hashes)
    step = max(1, _SIGNATURE_CELLS_PER_CHUNK // settings.num_perm)
    for start in range(0, len(mixed), step):
        chunk_owner = owner[start : start + step]
        permuted = mixed[start : start + step, None] * a[None, :] + b[None, :]
        firsts = np.flatnonzero(np.concatenate([[True], chunk_owner[1:] != chunk_owner[:-1]]))
        rows = chunk_owner[firsts]
        # a document cut by the chunk boundary gets the minimum of both parts
        signatures[rows] = np.minimum(signatures[rows], np.minimum.reduceat(permuted, firsts, axis=0))
    return signatures


def _lean(signature: np.ndarray, seed: int):
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=signature, scheme="affine32")


def _new_lsh(settings: DedupSettings):
    from datasketch import MinHashLSH

    weights = (1.0 - settings.false_negative_weight, settings.false_negative_weight)
    return MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm, weights=weights)


def _best_match(signature: np.ndarray, candidates: list[int], pool: np.ndarray, threshold: float) -> tuple[int, float]:
    """The candidate whose signature agrees most with ``signature``, if it reaches ``threshold``."""
    if not candidates:
        return -1, 0.0
    keys = np.asarray(candidates)
    similarity = (pool[keys] == signature).mean(axis=1)
    best = int(np.argmax(similarity))
    return (int(keys[best]), float(similarity[best])) if similarity[best] >= threshold else (-1, 0.0)


# -- the anchor ---------------------------------------------------------------------------------------------------
class AnchorIndex:
    """The anchor's exact hashes and an LSH index of its MinHashes: built once, queried by every batch."""

    def __init__(self, texts: Sequence[str], settings: DedupSettings | None = None) -> None:
        self.settings = settings or DedupSettings()
        self.exact: dict[str, int] = {}
        for row, text in enumerate(texts):
            self.exact.setdefault(normalised_hash(text), row)
        self.signatures = minhash_signatures(texts, self.settings)
        self.lsh = _new_lsh(self.settings)
        with self.lsh.insertion_session() as session:
            for row in np.flatnonzero((self.signatures != _EMPTY_SLOT).any(axis=1)):
                session.insert(int(row), _lean(self.signatures[row], self.settings.seed), check_duplication=False)

    def __len__(self) -> int:
        return len(self.signatures)


# -- the batch ----------------------------------------------------------------------------------------------------
class _Report:
    """Per-document verdicts, filled in as the checks run."""

    def __init__(self, size: int) -> None:
        self.reason = np.full(size, "", dtype=object)
        self.matched_in = np.full(size, "", dtype=object)
        self.duplicate_of = np.full(size, -1, dtype=np.int64)
        self.similarity = np.zeros(size)

    def mark(self, row: int, reason: str, matched_in: str, duplicate_of: int, similarity: float) -> None:
        self.reason[row], self.matched_in[row] = reason, matched_in
        self.duplicate_of[row], self.similarity[row] = duplicate_of, similarity

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
    texts = list(texts)
    report = _Report(len(texts))
    _mark_exact(texts, anchor, report)
    _mark_near(minhash_signatures(texts, settings), anchor, settings, report)
    return report.frame()


def _mark_exact(texts: list[str], anchor: AnchorIndex | None, report: _Report) -> None:
    first_in_batch: dict[str, int] = {}
    for row, text in enumerate(texts):
        digest = normalised_hash(text)
        if anchor is not None and digest in anchor.exact:
            report.mark(row, EXACT_DUPLICATE, IN_ANCHOR, anchor.exact[digest], 1.0)
        elif digest in first_in_batch:
            report.mark(row, EXACT_DUPLICATE, IN_BATCH, first_in_batch[digest], 1.0)
        else:
            first_in_batch[digest] = row


def _mark_near(signatures: np.ndarray, anchor: AnchorIndex | None, settings: DedupSettings, report: _Report) -> None:
    """Check documents in order against the anchor, then against the earlier documents kept so far."""
    batch_lsh = _new_lsh(settings)
    for row in np.flatnonzero((report.reason == "") & (signatures != _EMPTY_SLOT).any(axis=1)):
        lean = _lean(signatures[row], settings.seed)
        if anchor is not None:
            match, similarity = _near_match(lean, anchor.lsh, anchor.signatures, settings)
            if match >= 0:
                report.mark(row, NEAR_DUPLICATE_OF_ANCHOR, IN_ANCHOR, match, similarity)
                continue
        match, similarity = _near_match(lean, batch_lsh, signatures, settings)
        if match >= 0:
            report.mark(row, NEAR_DUPLICATE_IN_BATCH, IN_BATCH, match, similarity)
        else:
            batch_lsh.insert(int(row), lean, check_duplication=False)


def _near_match(lean, lsh, pool: np.ndarray, settings: DedupSettings) -> tuple[int, float]:
    return _best_match(lean.hashvalues, lsh.query(lean), pool, settings.threshold)


def drop_duplicates(
    frame: pd.DataFrame, anchor: AnchorIndex | None = None, settings: DedupSettings | None = None, column: str = "text"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame`` without its duplicate rows, and the per-row report of ``find_duplicates`` (same index)."""
    report = find_duplicates(frame[column].astype(str).tolist(), anchor, settings)
    report.index = frame.index
    return frame[~report["drop"].to_numpy()], report
