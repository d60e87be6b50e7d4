"""Watermark detection and the WinMax scan as one compiled pass over a batch's token ids.

Why: detection runs on every crawled document under every recorded key and scheme, so its cost per token
is the screen's cost. Whole-batch numpy passes make several arrays per token and need a global sort to
find each document's distinct (context, token) units; here each token is read once: its keyed hash, its
unit's hash, whether the unit was already seen in its document (a small open-addressing set per document,
sized to the document), and the green and scored counts. The WinMax window scan
(collapse_guard.text.winmax) runs in the same pass, on the document's running counts while they are in
cache.

What is computed is exactly what ``watermark`` and ``winmax`` define (their docstrings state the test); a
numpy implementation of the same test is the oracle (tests/text/detection_oracle.py), and the two agree
count for count and window for window on random batches of every scheme. Units are told apart by their
whole 64-bit keyed hash, so a document's counts never depend on the batch it is scored in.

The scan ranks windows by the signed root of the binomial likelihood ratio, rank² = 2n KL(p‖γ) for g green
of n units (p = g/n > γ), and skips the two logarithms for a window whose upper bound on rank² cannot beat
the best so far. Two bounds, both a few multiplications on the counts: KL ≤ χ² = (p − γ)² / (γ(1 − γ)), and
(Taylor's theorem with the integral remainder, KL'' (x) = 1 / (x(1 − x))) KL ≤ (p − γ)² / (2 min(γ(1 − γ),
p(1 − p))). With z² = (g − γn)² / (nγ(1 − γ)): rank² ≤ min(max(z², (g − γn)² n / (g (n − g))), 2 z²). A skipped
window could not have been chosen (the best changes only on a strictly larger rank; the bound carries a
relative margin of 1e-9 over rounding), so the result is the full scan's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


@njit(cache=True, nogil=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:  # pragma: no cover
    """splitmix64's finaliser (collapse_guard.text.hashing.splitmix64), on one value."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@njit(cache=True, nogil=True)
def _longest(ends: np.ndarray) -> int:  # pragma: no cover
    longest, begin = 0, 0
    for end in ends:
        longest = max(longest, end - begin)
        begin = end
    return longest


@njit(cache=True, nogil=True)
def _set_capacity(units: int) -> int:  # pragma: no cover
    """Slots of a document's set of units: a power of two at least 4× its units (probes stay short)."""
    capacity = 8
    while capacity < 4 * units:
        capacity *= 2
    return capacity


@njit(cache=True, nogil=True, inline="always")
def _document_units(
    tokens: np.ndarray,
    begin: int,
    end: int,
    seed: np.uint64,
    context: int,
    self_salt: bool,
    domain: np.uint64,
    hashed: np.ndarray,
    units: np.ndarray,
) -> int:  # pragma: no cover
    """Write the keyed hash of each (context, token) unit of ``tokens[begin:end]`` wholly inside it into
    ``units`` and return how many (``end - begin - context``, at least 0). lefthash seeds a token's unit with
    the previous token's keyed hash; selfhash with the minimum over the h previous tokens' and its own, XOR
    the scheme's domain (collapse_guard.text.watermark)."""
    length = end - begin
    count = length - context
    if count <= 0:
        return 0
    for i in range(length):
        hashed[i] = _mix(tokens[begin + i] ^ seed)
    if self_salt:
        # minima over hashed[i : i + k] for k = 1, 2, 4 ... <= h + 1, in place (each pass reads ahead of
        # where it writes); a window of h + 1 is then the minimum of two overlapping blocks of k
        width, k = context + 1, 1
        while 2 * k <= width:
            for i in range(length - 2 * k + 1):
                hashed[i] = min(hashed[i], hashed[i + k])
            k *= 2
        for i in range(count):
            lowest = min(hashed[i], hashed[i + width - k])
            units[i] = _mix((lowest ^ domain) * _GOLDEN + tokens[begin + i + context])
    else:
        for i in range(count):
            units[i] = _mix(hashed[i] * _GOLDEN + tokens[begin + i + 1])
    return count


@njit(cache=True, nogil=True, inline="always")
def _inserted(unit: np.uint64, slots: np.ndarray, mask: np.uint64) -> bool:  # pragma: no cover
    """Insert a nonzero ``unit`` into a document's set (open addressing, 0 = empty slot); True if it was
    not there yet. (Unit 0 is kept apart by the caller.)"""
    slot = unit & mask
    while True:
        held = slots[slot]
        if held == 0:
            slots[slot] = unit
            return True
        if held == unit:
            return False
        slot = (slot + np.uint64(1)) & mask


@njit(cache=True, nogil=True)
def count_units(
    tokens: np.ndarray,
    ends: np.ndarray,
    seed: np.uint64,
    context: int,
    self_salt: bool,
    domain: np.uint64,
    threshold: np.uint64,
    distinct: bool,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Green and scored units of each document ``tokens[ends[d-1]:ends[d]]``; with ``distinct``, each unit
    once per document (its first occurrence)."""
    documents = len(ends)
    green = np.zeros(documents, np.int64)
    scored = np.zeros(documents, np.int64)
    longest = _longest(ends)
    hashed = np.empty(longest, np.uint64)
    units = np.empty(longest, np.uint64)
    slots = np.zeros(_set_capacity(longest) if distinct else 1, np.uint64)
    begin = 0
    for d in range(documents):
        end = ends[d]
        count = _document_units(tokens, begin, end, seed, context, self_salt, domain, hashed, units)
        begin = end
        g = 0
        n = 0
        if distinct:
            capacity = _set_capacity(count)
            for j in range(capacity):
                slots[j] = 0
            mask = np.uint64(capacity - 1)
            zero_seen = False
            for i in range(count):
                unit = units[i]
                if unit == 0:
                    new, zero_seen = not zero_seen, True
                else:
                    new = _inserted(unit, slots, mask)
                if new:
                    n += 1
                    g += unit < threshold
        else:
            n = count
            for i in range(count):
                g += units[i] < threshold
        green[d] = g
        scored[d] = n
    return green, scored


@njit(cache=True, nogil=True, inline="always")
def _xlogy(x: float, y: float) -> float:  # pragma: no cover
    return x * math.log(y) if x > 0 else 0.0


@njit(cache=True, nogil=True, inline="always")
def _rank(g: int, n: int, gamma: float) -> float:  # pragma: no cover
    """Signed root of the one-sided binomial log-likelihood ratio of g green among n (0 at or below γ):
    the same operations, in the same order, as the scan's definition (collapse_guard.text.winmax)."""
    green, scored = float(g), float(n)
    share = green / max(scored, 1.0) if scored > 0 else 0.0
    if not share > gamma:
        return 0.0
    kl = _xlogy(share, share / gamma) + _xlogy(1 - share, (1 - share) / (1 - gamma))
    return math.sqrt(max(2 * scored * kl, 0.0))


_MARGIN = 1.0 + 1e-9  # the window bound's allowance for rounding (the bound is exact math, its evaluation not)


@njit(cache=True, nogil=True)
def _best_window(
    cum_green: np.ndarray, cum_scored: np.ndarray, count: int, sizes: np.ndarray, strides: np.ndarray, gamma: float
) -> tuple[int, int, int]:  # pragma: no cover
    """One document's best window (start, size in units) and the number of windows compared, from its running
    green and scored counts (``cum_*[i]``: over its first i units)."""
    spread = gamma * (1 - gamma)
    best = _rank(cum_green[count], cum_scored[count], gamma)
    limit, wide = best * best, 0.5 * best * best * spread
    start, size, compared = 0, count, 1
    for j in range(len(sizes)):
        s = sizes[j]
        if s >= count:
            break
        stride = strides[j]
        last = count - s
        first = 0
        while first <= last:
            wg = cum_green[first + s] - cum_green[first]  # counts, exact in float64
            wn = cum_scored[first + s] - cum_scored[first]
            excess = wg - gamma * wn
            a = excess * excess * _MARGIN
            # 2 z² > best², then z² > best² or (g − γn)² n / (g (n − g)) > best² (see the module docstring);
            # while no window is above γ (best 0), any window at γ
            if a > wide * wn:
                candidate = excess >= 0 and (a > limit * spread * wn or a * wn > limit * (wg * (wn - wg)))
            else:
                candidate = limit == 0 and excess == 0
            if candidate:
                rank = _rank(wg, wn, gamma)
                if rank > best:
                    best, start, size = rank, first, s
                    limit, wide = best * best, 0.5 * best * best * spread
            first += stride
        compared += last // stride + 1
    return start, size, compared


@njit(cache=True, nogil=True)
def scan_units(
    tokens: np.ndarray,
    ends: np.ndarray,
    seed: np.uint64,
    context: int,
    self_salt: bool,
    domain: np.uint64,
    threshold: np.uint64,
    gamma: float,
    sizes: np.ndarray,
    strides: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The whole-document counts (distinct units) and the WinMax scan of every document in one pass.

    Per document: whole green and scored; the best window's start and size (in units), green and scored;
    and the number of windows compared. Windows are ranked in the order the scan defines: the whole
    document first, then each size of ``sizes`` (ascending) below the document's unit count, starts every
    ``strides[j]`` units for ``sizes[j]``; a window replaces the best only with a strictly larger rank.
    """
    documents = len(ends)
    whole_green = np.zeros(documents, np.int64)
    whole_scored = np.zeros(documents, np.int64)
    best_start = np.zeros(documents, np.int64)
    best_size = np.zeros(documents, np.int64)
    best_green = np.zeros(documents, np.int64)
    best_scored = np.zeros(documents, np.int64)
    windows = np.zeros(documents, np.int64)
    longest = _longest(ends)
    hashed = np.empty(longest, np.uint64)
    units = np.empty(longest, np.uint64)
    slots = np.zeros(_set_capacity(longest), np.uint64)
    cum_green = np.zeros(longest + 1, np.float64)
    cum_scored = np.zeros(longest + 1, np.float64)
    begin = 0
    for d in range(documents):
        end = ends[d]
        count = _document_units(tokens, begin, end, seed, context, self_salt, domain, hashed, units)
        begin = end
        if count == 0:
            continue
        capacity = _set_capacity(count)
        for j in range(capacity):
            slots[j] = 0
        mask = np.uint64(capacity - 1)
        zero_seen = False
        g = 0
        n = 0
        for i in range(count):
            unit = units[i]
            if unit == 0:
                new, zero_seen = not zero_seen, True
            else:
                new = _inserted(unit, slots, mask)
            if new:
                n += 1
                g += unit < threshold
            cum_green[i + 1] = g
            cum_scored[i + 1] = n
        whole_green[d] = g
        whole_scored[d] = n
        start, size, compared = _best_window(cum_green, cum_scored, count, sizes, strides, gamma)
        best_start[d] = start
        best_size[d] = size
        best_green[d] = np.int64(cum_green[start + size] - cum_green[start])
        best_scored[d] = np.int64(cum_scored[start + size] - cum_scored[start])
        windows[d] = compared
    return whole_green, whole_scored, best_start, best_size, best_green, best_scored, windows
