"""The per-document hashing of near-duplicate screening (collapse_guard.text.dedup) as compiled loops.

Why: the numpy formulation makes a pass over memory per arithmetic step (a 3-word shingle's hash is three
splitmix64 rounds of six passes each, a band key six rounds) and groups documents by shingle count to form
dense blocks; one compiled loop per document keeps each value in registers and writes only results. These
loops compute the numpy formulation's values bit for bit (tests/text/test_minhash_kernels.py checks them
against it), so signatures and band keys stay what an index saved earlier holds:

- shingle hashes: ``hash_rows`` (collapse_guard.text.hashing) of each window of ``shingle_size`` token ids
  inside a document, top 32 bits; a document shorter than one shingle is one shingle of its tokens,
  zero-padded;
- signatures: datasketch's ``affine32`` MinHash of those hashes (MurmurHash3's 32-bit finaliser, then
  ``a * h + b`` modulo 2^32 per permutation, the minimum over the document's shingles);
- band keys: ``hash_rows`` of each band's rows of the signature.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # collapse_guard.text.hashing.GOLDEN_GAMMA
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_ONE = np.uint64(1)
_LOW_32 = np.uint64(0xFFFFFFFF)
_EMPTY = np.uint32(0xFFFFFFFF)


@njit(cache=True, nogil=True, inline="always")
def _splitmix64(x: np.uint64) -> np.uint64:  # pragma: no cover
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _fmix32(h: np.uint64) -> np.uint64:  # pragma: no cover
    h = h ^ (h >> np.uint64(16))
    h = (h * np.uint64(0x85EBCA6B)) & _LOW_32
    h = h ^ (h >> np.uint64(13))
    h = (h * np.uint64(0xC2B2AE35)) & _LOW_32
    return h ^ (h >> np.uint64(16))


@njit(cache=True, nogil=True)
def shingle_hashes(
    ids: np.ndarray, lengths: np.ndarray, shingle_size: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """32-bit hashes of every document's shingles, documents in order and shingles in position order, and the
    document each belongs to (int64)."""
    documents = len(lengths)
    total = 0
    for d in range(documents):
        n = lengths[d]
        if n >= shingle_size:
            total += n - shingle_size + 1
        elif n > 0:
            total += 1
    hashes = np.empty(total, np.uint32)
    owner = np.empty(total, np.int64)
    out = 0
    start = 0
    for d in range(documents):
        n = lengths[d]
        windows = n - shingle_size + 1 if n >= shingle_size else (1 if n > 0 else 0)
        for w in range(windows):
            h = np.uint64(0)
            for c in range(shingle_size):
                token = ids[start + w + c] if c < n else np.uint64(0)
                h = _splitmix64(h * _GAMMA + token + _ONE)
            hashes[out] = np.uint32(h >> np.uint64(32))
            owner[out] = d
            out += 1
        start += n
    return hashes, owner


@njit(cache=True, nogil=True)
def signatures(
    hashes: np.ndarray, owner: np.ndarray, documents: int, a: np.ndarray, b: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """(documents, permutations) uint32 MinHash of the shingle hashes (grouped by ``owner``, ascending); a
    document without shingles keeps 0xFFFFFFFF in every slot."""
    permutations = len(a)
    out = np.full((documents, permutations), _EMPTY, np.uint32)
    wide_a = a.astype(np.uint64)
    wide_b = b.astype(np.uint64)
    minimum = np.empty(permutations, np.uint32)
    i = 0
    while i < len(hashes):
        d = owner[i]
        minimum[:] = _EMPTY
        while i < len(hashes) and owner[i] == d:
            mixed = _fmix32(np.uint64(hashes[i]))
            for p in range(permutations):
                value = np.uint32((wide_a[p] * mixed + wide_b[p]) & _LOW_32)
                if value < minimum[p]:
                    minimum[p] = value
            i += 1
        out[d, :] = minimum
    return out


@njit(cache=True, nogil=True)
def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:  # pragma: no cover
    """(documents, bands) uint64: ``hash_rows`` of each band's ``rows`` columns of the signature."""
    documents = signatures.shape[0]
    keys = np.empty((documents, bands), np.uint64)
    for d in range(documents):
        for band in range(bands):
            h = np.uint64(0)
            for r in range(rows):
                h = _splitmix64(h * _GAMMA + np.uint64(signatures[d, band * rows + r]) + _ONE)
            keys[d, band] = h
    return keys


@njit(cache=True, nogil=True)
def exact_keys(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:  # pragma: no cover
    """A 64-bit hash of each document's whole token sequence: the sum over its tokens of
    ``splitmix64(id ^ splitmix64(position + GOLDEN_GAMMA))``, mixed with its length."""
    keys = np.empty(len(lengths), np.uint64)
    start = 0
    for d in range(len(lengths)):
        total = np.uint64(0)
        for position in range(lengths[d]):
            total += _splitmix64(ids[start + position] ^ _splitmix64(np.uint64(position) + _GAMMA))
        keys[d] = _splitmix64(total ^ _splitmix64(np.uint64(lengths[d])))
        start += lengths[d]
    return keys


@njit(cache=True, nogil=True)
def bucket_pairs(bands: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Every (later, earlier) pair of rows with an equal key in some band (column of ``bands``), a row paired
    with the first ``cap`` rows of its bucket that come before it; a pair equal in several bands is listed
    once per band. Buckets are found with an open-addressing table (the keys are already mixed hashes, so
    their low bits pick the slot), in one pass over the rows per band."""
    rows, count = bands.shape
    size = 2
    while size < 2 * rows:
        size *= 2
    mask = size - 1
    slot_key = np.empty(size, np.uint64)
    slot_first = np.empty(size, np.int64)
    slot_last = np.empty(size, np.int64)
    group_first = np.empty(rows, np.int64)  # the first row of each row's bucket
    rank = np.empty(rows, np.int64)  # how many rows of its bucket come before it
    following = np.empty(rows, np.int64)  # the next row of the same bucket
    later = np.empty(max(rows, 16), np.int64)
    earlier = np.empty(max(rows, 16), np.int64)
    found = 0
    for band in range(count):
        slot_first[:] = -1
        for row in range(rows):
            key = bands[row, band]
            slot = np.int64(key & np.uint64(mask))
            while slot_first[slot] >= 0 and slot_key[slot] != key:
                slot = (slot + 1) & mask
            following[row] = -1
            if slot_first[slot] < 0:
                slot_key[slot], slot_first[slot], slot_last[slot] = key, row, row
                group_first[row], rank[row] = row, 0
            else:
                last = slot_last[slot]
                following[last] = row
                group_first[row], rank[row] = slot_first[slot], rank[last] + 1
                slot_last[slot] = row
        for row in range(rows):
            partners = min(rank[row], cap)
            if found + partners > len(later):
                grown = max(2 * len(later), found + partners)
                later = np.concatenate((later, np.empty(grown - len(later), np.int64)))
                earlier = np.concatenate((earlier, np.empty(grown - len(earlier), np.int64)))
            partner = group_first[row]
            for _ in range(partners):
                later[found], earlier[found] = row, partner
                found += 1
                partner = following[partner]
    return later[:found], earlier[:found]
