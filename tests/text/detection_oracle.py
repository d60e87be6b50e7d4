"""Detection and the WinMax scan as vectorised numpy passes over a whole batch: the oracle the compiled pass
(collapse_guard.text.detection_kernel) is tested against (tests/text/test_detection_kernel.py), and its
numpy counterpart in benchmarks/watermark_detection.py. Plus ``detect_reference``: the same test written
token by token in plain Python, the slowest and most obvious statement of what a detector counts.

Their one difference from the kernel: the numpy path tells units apart by their keyed hash truncated to
64 − (bits of the batch's document count) bits, the kernel by the whole hash (and so independently of the
batch), which differs only where two distinct units of one document share the truncated bits
(probability ~ length² / 2^(63 − b)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from collapse_guard.text import watermark as product
from collapse_guard.text.hashing import GOLDEN_GAMMA, MASK_64, splitmix64_int
from collapse_guard.text.watermark import (
    DEFAULT_SCHEME,
    Detection,
    KeyLike,
    Scheme,
    TokenBatch,
    _context_seeds,
    _domain,
    _pair_hash,
    _threshold,
    as_key,
    green_mask,
    p_values,
    scheme_of,
    token_hashes,
    z_scores,
)
from collapse_guard.text.winmax import CLEAN, MARKED, MIN_WINDOW, RATIO, STARTS_PER_WINDOW, UNCERTAIN, window_sizes


# -- whole-text detection ---------------------------------------------------------------------------------------
def position_hashes(tokens: np.ndarray, key: KeyLike, scheme: str | Scheme) -> np.ndarray:
    """The keyed (seed, token) hash of every position t >= h of one token stream (length ``len(tokens) - h``)."""
    scheme, key = scheme_of(scheme), as_key(key)
    tokens = np.asarray(tokens, dtype=np.uint64)
    h = scheme.context
    if len(tokens) <= h:
        return np.zeros(0, dtype=np.uint64)
    hashed = token_hashes(tokens, key)
    if not scheme.self_salt:
        return _pair_hash(hashed[h - 1 : -1], tokens[h:])
    seeds = hashed[h:].copy()  # the candidate itself
    for back in range(1, h + 1):
        np.minimum(seeds, hashed[h - back : len(tokens) - back], out=seeds)
    return _pair_hash(seeds ^ _domain(scheme), tokens[h:])


def detect(
    documents: Sequence[np.ndarray],
    key: KeyLike,
    gamma: float,
    ignore_repeated_pairs: bool = True,
    scheme: str | Scheme = DEFAULT_SCHEME,
) -> Detection:
    """Concatenate, hash every (context, token) unit at once, drop the units whose context reaches into the
    document before, then count per document (distinct units by one global sort)."""
    key, h = as_key(key), scheme_of(scheme).context
    lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
    if lengths.sum() == 0:
        zeros = np.zeros(len(documents), dtype=np.int64)
        return Detection(zeros, zeros, np.zeros(len(documents)), np.ones(len(documents)))
    tokens = np.concatenate([np.asarray(d, dtype=np.uint64) for d in documents])
    owner = np.repeat(np.arange(len(documents)), lengths)
    offset = np.arange(len(tokens)) - (np.cumsum(lengths) - lengths)[owner]
    inside = offset[h:] >= h
    pair_hash, pair_owner = position_hashes(tokens, key, scheme)[inside], owner[h:][inside]
    is_green = pair_hash < _threshold(gamma)
    if ignore_repeated_pairs:
        green, scored = _count_distinct_pairs(pair_hash, is_green, pair_owner, len(documents))
    else:
        green = np.bincount(pair_owner, weights=is_green, minlength=len(documents)).astype(np.int64)
        scored = np.bincount(pair_owner, minlength=len(documents)).astype(np.int64)
    return Detection(green, scored, z_scores(green, scored, gamma), p_values(green, scored, gamma))


def _count_distinct_pairs(
    pair_hash: np.ndarray, is_green: np.ndarray, owner: np.ndarray, documents: int
) -> tuple[np.ndarray, np.ndarray]:
    owner_bits = max(1, (documents - 1).bit_length())
    hash_shift = np.uint64(owner_bits + 1)
    packed = (
        (owner.astype(np.uint64) << np.uint64(64 - owner_bits))
        | ((pair_hash >> hash_shift) << np.uint64(1))
        | is_green.astype(np.uint64)
    )
    packed.sort()
    first_of_run = np.ones(len(packed), dtype=bool)
    first_of_run[1:] = packed[1:] != packed[:-1]
    distinct = packed[first_of_run]
    distinct_owner = (distinct >> np.uint64(64 - owner_bits)).astype(np.int64)
    green = np.bincount(distinct_owner, weights=(distinct & np.uint64(1)).astype(bool), minlength=documents)
    scored = np.bincount(distinct_owner, minlength=documents)
    return green.astype(np.int64), scored.astype(np.int64)


def detect_reference(
    documents: Sequence[Sequence[int]],
    key: KeyLike,
    gamma: float,
    ignore_repeated_pairs: bool = True,
    scheme: str | Scheme = DEFAULT_SCHEME,
) -> list[tuple[int, int, float]]:
    """The same test written token by token in plain Python: (green, scored, z) per document."""
    seed, scheme = as_key(key).seed, scheme_of(scheme)
    threshold, h = int(_threshold(gamma)), scheme.context
    results = []
    for document in documents:
        green = scored = 0
        seen = set()
        for t in range(h, len(document)):
            token = int(document[t])
            window = document[t - h : t + 1] if scheme.self_salt else document[t - 1 : t]
            context = min(splitmix64_int(int(x) ^ seed) for x in window)
            if scheme.self_salt:
                context ^= int(_domain(scheme))
            if ignore_repeated_pairs:
                if (context, token) in seen:
                    continue
                seen.add((context, token))
            value = splitmix64_int((context * int(GOLDEN_GAMMA) + token) & MASK_64)
            scored += 1
            green += value < threshold
        z = (green - gamma * scored) / math.sqrt(scored * gamma * (1 - gamma)) if scored else 0.0
        results.append((green, scored, z))
    return results


# -- the WinMax scan ----------------------------------------------------------------------------------------------
def scan(
    documents: Sequence[np.ndarray],
    key: KeyLike,
    gamma: float,
    scheme: str | Scheme = DEFAULT_SCHEME,
    fpr: float = 1e-4,
    uncertain_fpr: float = 1e-2,
    min_window: int = MIN_WINDOW,
    ratio: float = RATIO,
) -> dict[str, np.ndarray]:
    """Every window of every size vectorised per size over the whole batch; the fields of winmax.ScanResult."""
    scheme, key = scheme_of(scheme), as_key(key)
    units, lengths = _units(documents, key, scheme)
    scored, green = _scored_and_green(units, lengths, gamma)
    cum_green = np.concatenate([[0], np.cumsum(green, dtype=np.int64)])
    cum_scored = np.concatenate([[0], np.cumsum(scored, dtype=np.int64)])
    starts_of = np.cumsum(lengths) - lengths
    best_rank = _rank(
        cum_green[starts_of + lengths] - cum_green[starts_of],
        cum_scored[starts_of + lengths] - cum_scored[starts_of],
        gamma,
    )
    best_start, best_size = np.zeros(len(lengths), np.int64), lengths.copy()
    windows = (lengths > 0).astype(np.int64)
    for size in window_sizes(int(lengths.max(initial=0)), min_window, ratio):
        docs, counts, local, rank = _windows_of_size(int(size), lengths, starts_of, cum_green, cum_scored, gamma)
        if not len(docs):
            continue
        block_best, where = _best_per_document(rank, counts, local)
        improved = block_best > best_rank[docs]
        chosen = docs[improved]
        best_rank[chosen], best_start[chosen], best_size[chosen] = block_best[improved], where[improved], size
        windows[docs] += counts
    first = starts_of + best_start
    green_best = cum_green[first + best_size] - cum_green[first]
    scored_best = cum_scored[first + best_size] - cum_scored[first]
    p = p_values(green_best, scored_best, gamma)
    whole_p = p_values(
        cum_green[starts_of + lengths] - cum_green[starts_of],
        cum_scored[starts_of + lengths] - cum_scored[starts_of],
        gamma,
    )
    adjusted = np.minimum(1.0, 2 * np.minimum(whole_p, p * np.maximum(windows, 1)))
    verdict = np.where(adjusted <= fpr, MARKED, np.where(adjusted <= uncertain_fpr, UNCERTAIN, CLEAN)).astype(object)
    return {
        "green": green_best,
        "scored": scored_best,
        "z": z_scores(green_best, scored_best, gamma),
        "p_value": p,
        "adjusted_p": adjusted,
        "windows": windows,
        "start": best_start,
        "end": best_start + best_size + scheme.context,
        "verdict": verdict,
    }


def _windows_of_size(size, lengths, starts_of, cum_green, cum_scored, gamma):
    docs = np.flatnonzero(lengths > size)
    stride = max(1, size // STARTS_PER_WINDOW)
    counts = (lengths[docs] - size) // stride + 1
    local = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)) * stride
    starts = np.repeat(starts_of[docs], counts) + local
    ends = starts + size
    return docs, counts, local, _rank(cum_green[ends] - cum_green[starts], cum_scored[ends] - cum_scored[starts], gamma)


def _best_per_document(rank: np.ndarray, counts: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    block_best = np.maximum.reduceat(rank, np.cumsum(counts) - counts)
    first = np.flatnonzero(rank == np.repeat(block_best, counts))
    owner = np.repeat(np.arange(len(counts)), counts)[first]
    _, pick = np.unique(owner, return_index=True)
    return block_best, local[first[pick]]


def _units(documents: Sequence[np.ndarray], key, scheme: Scheme) -> tuple[np.ndarray, np.ndarray]:
    h = scheme.context
    lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
    if lengths.sum() == 0:
        return np.zeros(0, np.uint64), np.zeros(len(documents), np.int64)
    tokens = np.concatenate([np.asarray(d, dtype=np.uint64) for d in documents])
    owner = np.repeat(np.arange(len(documents)), lengths)
    offset = np.arange(len(tokens)) - (np.cumsum(lengths) - lengths)[owner]
    inside = offset[h:] >= h
    return position_hashes(tokens, key, scheme)[inside], np.maximum(lengths - h, 0)


def _scored_and_green(units: np.ndarray, lengths: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    owner = np.repeat(np.arange(len(lengths)), lengths).astype(np.uint64)
    bits = max(1, (len(lengths) - 1).bit_length())
    packed = (owner << np.uint64(64 - bits)) | (units >> np.uint64(bits)) if bits < 64 else units
    _, first = np.unique(packed, return_index=True)
    scored = np.zeros(len(units), dtype=bool)
    scored[first] = True
    return scored, scored & (units < _threshold(gamma))


def _rank(green: np.ndarray, scored: np.ndarray, gamma: float) -> np.ndarray:
    green, scored = green.astype(np.float64), scored.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(scored > 0, green / np.maximum(scored, 1), 0.0)
        above = share > gamma
        kl = _xlogy(share, share / gamma) + _xlogy(1 - share, (1 - share) / (1 - gamma))
    return np.where(above, np.sqrt(np.maximum(2 * scored * kl, 0.0)), 0.0)


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log(np.where(x > 0, y, 1.0)), 0.0)


# -- the hand-written statements of what the product does in one compiled pass --------------------------------------
def bias_logits(
    logits: np.ndarray,
    prev_id: int | np.ndarray,
    key: KeyLike,
    gamma: float,
    delta: float,
    vocabulary_ids: np.ndarray | None = None,
) -> np.ndarray:
    """``logits`` + δ on the green list of ``prev_id``: one row (vocab,) or a batch (batch, vocab) with one
    previous token per row. ``vocabulary_ids[j]`` is the watermark id of logit column j (default: j)."""
    logits = np.asarray(logits)
    columns = np.arange(logits.shape[-1], dtype=np.uint64) if vocabulary_ids is None else vocabulary_ids
    previous = np.asarray(prev_id, dtype=np.uint64)
    if logits.ndim == 2:
        previous = previous.reshape(-1, 1)
    green = green_mask(previous, np.asarray(columns, dtype=np.uint64), key, gamma)
    return logits + delta * green


def _first_occurrences(pair_hash: np.ndarray) -> np.ndarray:
    """True at the first occurrence of each pair (identified by its keyed 64-bit hash) in one document."""
    _, first = np.unique(pair_hash, return_index=True)
    mask = np.zeros(len(pair_hash), dtype=bool)
    mask[first] = True
    return mask


def detect_texts(
    texts: Sequence[str],
    key: KeyLike,
    gamma: float,
    ignore_repeated_pairs: bool = True,
    scheme: str | Scheme = DEFAULT_SCHEME,
) -> Detection:
    """The product's ``detect`` on raw texts, tokenised as the built-in tokenizer does."""
    return product.detect(TokenBatch.of_texts(texts), key, gamma, ignore_repeated_pairs, scheme)


@dataclass(frozen=True)
class WindowedDetection:
    """The best window: its z-score, one-sided p-value and where it starts (token index of its first
    scored token's predecessor), plus how many windows were compared (for a multiple-testing correction)."""

    z: float
    p_value: float
    start: int
    windows: int


def detect_windowed(
    ids: np.ndarray, key: KeyLike, gamma: float, window: int = 200, ignore_repeated_pairs: bool = True
) -> WindowedDetection:
    """The highest z over all windows of ``window`` consecutive token pairs (cumulative sums, no loop):
    finds a watermarked passage pasted into longer human text, whose own z the surrounding text dilutes.

    The max over many windows is not a single test: compare ``p_value`` × ``windows`` (Bonferroni) with the
    level you want, or use a higher z threshold for long texts.
    """
    key = as_key(key)
    ids = np.asarray(ids, dtype=np.uint64)
    if len(ids) < 2:
        return WindowedDetection(0.0, 1.0, 0, 0)
    pair_hash = _pair_hash(_context_seeds(ids[:-1], key), ids[1:])
    scored = _first_occurrences(pair_hash) if ignore_repeated_pairs else np.ones(len(pair_hash), dtype=bool)
    green = scored & (pair_hash < _threshold(gamma))
    width = min(window, len(pair_hash))
    green_sum = _window_sums(green, width)
    scored_sum = _window_sums(scored, width)
    z = z_scores(green_sum, scored_sum, gamma)
    best = int(np.argmax(z))
    p = float(p_values(green_sum[best : best + 1], scored_sum[best : best + 1], gamma)[0])
    return WindowedDetection(float(z[best]), p, best, len(z))


def _window_sums(flags: np.ndarray, width: int) -> np.ndarray:
    running = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return running[width:] - running[:-width]
