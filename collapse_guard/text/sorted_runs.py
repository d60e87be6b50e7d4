"""Two loops over sorted integer arrays that numpy has no primitive for, compiled with numba.

Why: the anchor index (collapse_guard.text.dedup) answers every crawl batch by looking its sorted band
fingerprints up in sorted tables, and grows by merging sorted runs. With numpy's ``searchsorted`` each of a
batch's needles costs a full binary search (log2 of the table: 23 cache-missing steps at 10M rows), and a
merge needs a binary search per element plus boolean-mask scatters; both grew the crawl check faster than
the crawl (CPU time ~ n^1.27 from 1M to 10M documents, measured). Both inputs are sorted, so one forward
pass does it: the search gallops from the previous needle's place (log2 of the gap, in cache), and the
merge is the textbook two-pointer merge. Measured at 10M rows: 3.3x and 6.9x faster than the numpy code
they replace, same answers (tested against it).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def equal_ranges(keys: np.ndarray, needles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """For each needle (``needles`` sorted ascending), the first position in ``keys`` (sorted ascending)
    holding a value >= it, and how many keys equal it from there: ``searchsorted`` left, and right minus
    left, in one galloping pass."""
    size = len(keys)
    low = np.empty(len(needles), np.int64)
    count = np.zeros(len(needles), np.int64)
    position = 0
    for i in range(len(needles)):
        needle = needles[i]
        if position < size and keys[position] < needle:
            step = 1
            while position + step < size and keys[position + step] < needle:
                step *= 2
            first, last = position + step // 2 + 1, min(position + step, size)
            while first < last:
                middle = (first + last) >> 1
                if keys[middle] < needle:
                    first = middle + 1
                else:
                    last = middle
            position = first
        low[i] = position
        end = position
        while end < size and keys[end] == needle:
            end += 1
        count[i] = end - position
    return low, count


@njit(cache=True, nogil=True)
def merge_runs(
    keys: np.ndarray, rows: np.ndarray, later_keys: np.ndarray, later_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Two runs sorted by key as one, the first run's entries before the later one's on equal keys (so ties
    stay in row order)."""
    first, second = len(keys), len(later_keys)
    merged_keys = np.empty(first + second, keys.dtype)
    merged_rows = np.empty(first + second, rows.dtype)
    i = j = 0
    for out in range(first + second):
        if j < second and (i == first or later_keys[j] < keys[i]):
            merged_keys[out], merged_rows[out] = later_keys[j], later_rows[j]
            j += 1
        else:
            merged_keys[out], merged_rows[out] = keys[i], rows[i]
            i += 1
    return merged_keys, merged_rows
