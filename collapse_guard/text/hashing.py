"""Vectorised 64-bit integer hashing shared by the watermark, novelty decoding and near-duplicate detection.

Why one mixer: all three need a fast, well-distributed hash of integer tuples over millions of tokens in
numpy. The splitmix64 finaliser (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number
generators") is a bijection on 64-bit integers with full avalanche, and runs as six numpy passes with
wrapping uint64 arithmetic.
"""

from __future__ import annotations

import numpy as np

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / φ, splitmix64's increment
_MULTIPLIER_1 = np.uint64(0xBF58476D1CE4E5B9)
_MULTIPLIER_2 = np.uint64(0x94D049BB133111EB)
MASK_64 = (1 << 64) - 1


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on a uint64 array (multiplication wraps modulo 2^64)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _MULTIPLIER_1
        x = x ^ (x >> np.uint64(27))
        x = x * _MULTIPLIER_2
        return x ^ (x >> np.uint64(31))


def splitmix64_int(x: int) -> int:
    """The same finaliser on one Python int: the per-token reference implementations use it."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK_64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK_64
    return x ^ (x >> 31)


def hash_rows(rows: np.ndarray) -> np.ndarray:
    """An order-sensitive 64-bit hash of each row of a 2-D integer array (e.g. n-grams of token ids)."""
    hashes = np.zeros(len(rows), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in range(rows.shape[1]):
            hashes = splitmix64(hashes * GOLDEN_GAMMA + rows[:, column].astype(np.uint64) + np.uint64(1))
    return hashes
