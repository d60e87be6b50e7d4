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
    TokenBatch,
    _domain,
    _threshold,
    as_key,
    p_values,
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
    context tokens of its first unit, and the verdict (``marked``/``uncertain``/``clean``); and the whole
    document's test, which the scan runs in the same pass (``whole_green``, ``whole_scored``, ``whole_p``:
    ``watermark.detect``'s counts and p-value)."""

    green: np.ndarray
    scored: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    adjusted_p: np.ndarray
    windows: np.ndarray
    start: np.ndarray
    end: np.ndarray
    verdict: np.ndarray
    whole_green: np.ndarray
    whole_scored: np.ndarray
    whole_p: np.ndarray

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
    documents: TokenBatch | Sequence[np.ndarray],
    key: KeyLike,
    gamma: float,
    scheme: str | Scheme = DEFAULT_SCHEME,
    fpr: float = 1e-4,
    uncertain_fpr: float = 1e-2,
    min_window: int = MIN_WINDOW,
    ratio: float = RATIO,
) -> ScanResult:
    """Scan a batch of token-id documents (arrays, or a ``TokenBatch``) under one key and scheme (see the
    module docstring)."""
    from collapse_guard.text.detection_kernel import scan_units

    batch, scheme, key = TokenBatch.of(documents), scheme_of(scheme), as_key(key)
    sizes = window_sizes(int(np.maximum(batch.lengths - scheme.context, 0).max(initial=0)), min_window, ratio)
    whole_green, whole_scored, start, size, green, scored, windows = scan_units(
        batch.ids,
        batch.ends,
        np.uint64(key.seed),
        scheme.context,
        scheme.self_salt,
        _domain(scheme),
        _threshold(gamma),
        float(gamma),
        sizes,
        np.maximum(1, sizes // STARTS_PER_WINDOW),
    )
    p = p_values(green, scored, gamma)
    whole_p = p_values(whole_green, whole_scored, gamma)
    adjusted = np.minimum(1.0, 2 * np.minimum(whole_p, p * np.maximum(windows, 1)))
    return ScanResult(
        green=green,
        scored=scored,
        z=z_scores(green, scored, gamma),
        p_value=p,
        adjusted_p=adjusted,
        windows=windows,
        start=start,
        end=start + size + scheme.context,
        verdict=verdicts(adjusted, fpr, uncertain_fpr),
        whole_green=whole_green,
        whole_scored=whole_scored,
        whole_p=whole_p,
    )


def verdicts(bound: np.ndarray, fpr: float, uncertain_fpr: float) -> np.ndarray:
    """``marked`` where the false-positive bound is at most ``fpr``, ``uncertain`` up to ``uncertain_fpr``,
    ``clean`` above (object array)."""
    return np.where(bound <= fpr, MARKED, np.where(bound <= uncertain_fpr, UNCERTAIN, CLEAN)).astype(object)
