"""WinMax-style detection: the best-scoring window over many window sizes, with a false-positive rate
calibrated per document.

Why: watermarked text reaches us edited, or pasted into human text (Kirchenbauer et al. 2024, "On the
Reliability of Watermarks for Large Language Models", WinMax). The whole-text z-score dilutes a marked
passage in the text around it; one fixed window misses passages shorter or longer than it. Scanning
every window size finds the passage wherever it is and whatever its length — at the price of many
tests, which this module pays for honestly:

* The false-positive budget α is split in two halves. Half goes to the whole document (one test: a fully
  marked text loses almost no power to the scan); half to the scan: each window is ranked by the signed
  root of its binomial likelihood ratio (accurate in the tail, cheap to vectorise), and the best window's
  exact one-sided binomial p-value is multiplied by the number of windows compared (Bonferroni). The
  document's ``adjusted_p`` is min(2 p_whole, 2 m p_best). Under the null — unmarked text, each distinct
  scored unit green with probability γ independently — P(adjusted p ≤ α) ≤ α for every document length
  (a union bound: conservative, since windows overlap, but it holds whatever the length).
* Window sizes run on a geometric grid (ratio ``ratio``) from ``min_window`` scored units up to the whole
  document, which is always one of the windows; starts advance by 1/``starts_per_window`` of the size.
  The loop runs over the ~40 sizes, each one vectorised over every start of every document in the batch:
  no per-token Python loop.
* Repeated (context, token) units are scored once per document (their first occurrence), as in
  ``watermark.detect``.

A document is ``marked`` when its adjusted p-value is at most ``fpr``, ``uncertain`` when it is at most
``uncertain_fpr``, ``clean`` otherwise; the best window's token span says where the marked text is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from collapse_guard.text.watermark import (
    DEFAULT_SCHEME,
    KeyLike,
    Scheme,
    _threshold,
    as_key,
    p_values,
    position_hashes,
    scheme_of,
    z_scores,
)

MARKED, UNCERTAIN, CLEAN = "marked", "uncertain", "clean"
MIN_WINDOW = 16
RATIO = 1.15
STARTS_PER_WINDOW = 4


@dataclass(frozen=True)
class ScanResult:
    """Per document, the best window: green and scored counts, z, exact p-value, p × windows compared
    (``adjusted_p``, the per-document false-positive bound), its token span [start, end) including the h
    context tokens of its first unit, and the verdict (``marked``/``uncertain``/``clean``)."""

    green: np.ndarray
    scored: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    adjusted_p: np.ndarray
    windows: np.ndarray
    start: np.ndarray
    end: np.ndarray
    verdict: np.ndarray

    @property
    def marked(self) -> np.ndarray:
        return self.verdict == MARKED


def window_sizes(longest: int, min_window: int = MIN_WINDOW, ratio: float = RATIO) -> np.ndarray:
    """The geometric grid of window sizes (in scoring units) below ``longest``; each document's own length
    is added separately as its whole-document window."""
    sizes, size = [], float(min_window)
    while round(size) < longest:
        sizes.append(round(size))
        size *= ratio
    return np.unique(np.asarray(sizes, dtype=np.int64))


def scan(
    documents: Sequence[np.ndarray],
    key: KeyLike,
    gamma: float,
    scheme: str | Scheme = DEFAULT_SCHEME,
    fpr: float = 1e-4,
    uncertain_fpr: float = 1e-2,
    min_window: int = MIN_WINDOW,
    ratio: float = RATIO,
) -> ScanResult:
    """Scan a batch of token-id documents under one key and scheme (see the module docstring)."""
    scheme, key = scheme_of(scheme), as_key(key)
    units, lengths = _units(documents, key, scheme)
    scored, green = _scored_and_green(units, lengths, gamma)
    cum_green = np.concatenate([[0], np.cumsum(green, dtype=np.int64)])
    cum_scored = np.concatenate([[0], np.cumsum(scored, dtype=np.int64)])
    starts_of = np.cumsum(lengths) - lengths
    # the whole document is always a window
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
    return _result(
        cum_green, cum_scored, starts_of, lengths, best_start, best_size, windows, gamma, scheme, fpr, uncertain_fpr
    )


def _windows_of_size(size, lengths, starts_of, cum_green, cum_scored, gamma):
    """Every window of ``size`` units (starts every ``size // STARTS_PER_WINDOW``) of every document longer
    than ``size``: (those documents, windows per document, each window's start within its document, rank)."""
    docs = np.flatnonzero(lengths > size)
    stride = max(1, size // STARTS_PER_WINDOW)
    counts = (lengths[docs] - size) // stride + 1
    local = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)) * stride
    starts = np.repeat(starts_of[docs], counts) + local
    ends = starts + size
    return docs, counts, local, _rank(cum_green[ends] - cum_green[starts], cum_scored[ends] - cum_scored[starts], gamma)


def _best_per_document(rank: np.ndarray, counts: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per document (its windows are contiguous, ``counts`` of them): the best rank and where its first
    best window starts."""
    block_best = np.maximum.reduceat(rank, np.cumsum(counts) - counts)
    first = np.flatnonzero(rank == np.repeat(block_best, counts))
    owner = np.repeat(np.arange(len(counts)), counts)[first]
    _, pick = np.unique(owner, return_index=True)  # every document has a window at its best
    return block_best, local[first[pick]]


def _units(documents: Sequence[np.ndarray], key, scheme: Scheme) -> tuple[np.ndarray, np.ndarray]:
    """Every document's (context, token) unit hashes, concatenated, and the number of units per document."""
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
    """Score each unit's first occurrence in its document only (repeats carry no new evidence)."""
    owner = np.repeat(np.arange(len(lengths)), lengths).astype(np.uint64)
    bits = max(1, (len(lengths) - 1).bit_length())
    packed = (owner << np.uint64(64 - bits)) | (units >> np.uint64(bits)) if bits < 64 else units
    _, first = np.unique(packed, return_index=True)  # a stable sort: the first occurrence of each unit
    scored = np.zeros(len(units), dtype=bool)
    scored[first] = True
    return scored, scored & (units < _threshold(gamma))


def _rank(green: np.ndarray, scored: np.ndarray, gamma: float) -> np.ndarray:
    """Signed root of the binomial log-likelihood ratio, one-sided (0 when the green share is at most γ):
    orders windows of different sizes as their exact tail p-values do, far better than z for small ones."""
    green, scored = green.astype(np.float64), scored.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(scored > 0, green / np.maximum(scored, 1), 0.0)
        above = share > gamma
        kl = _xlogy(share, share / gamma) + _xlogy(1 - share, (1 - share) / (1 - gamma))
    return np.where(above, np.sqrt(np.maximum(2 * scored * kl, 0.0)), 0.0)


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log(np.where(x > 0, y, 1.0)), 0.0)


def _result(
    cum_green, cum_scored, starts_of, lengths, best_start, best_size, windows, gamma, scheme, fpr, uncertain_fpr
):
    first = starts_of + best_start
    green = cum_green[first + best_size] - cum_green[first]
    scored = cum_scored[first + best_size] - cum_scored[first]
    p = p_values(green, scored, gamma)
    whole_p = p_values(
        cum_green[starts_of + lengths] - cum_green[starts_of],
        cum_scored[starts_of + lengths] - cum_scored[starts_of],
        gamma,
    )
    adjusted = np.minimum(1.0, 2 * np.minimum(whole_p, p * np.maximum(windows, 1)))
    verdict = np.where(adjusted <= fpr, MARKED, np.where(adjusted <= uncertain_fpr, UNCERTAIN, CLEAN)).astype(object)
    return ScanResult(
        green=green,
        scored=scored,
        z=z_scores(green, scored, gamma),
        p_value=p,
        adjusted_p=adjusted,
        windows=windows,
        start=best_start,
        end=best_start + best_size + scheme.context,
        verdict=verdict,
    )
