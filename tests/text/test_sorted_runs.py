"""The compiled sorted-array loops give numpy's answers: ``searchsorted`` left and right, and a stable
merge (the first run's entries before the later one's on equal keys)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from collapse_guard.text.sorted_runs import equal_ranges, merge_runs

# few distinct values, so equal keys, runs of equal keys and needles past either end all occur
small_keys = st.lists(st.integers(0, 40), max_size=60).map(lambda v: np.sort(np.array(v, dtype=np.uint32)))


@given(small_keys, small_keys)
def test_equal_ranges_are_searchsorted_left_and_right(keys, needles):
    low, count = equal_ranges(keys, needles)
    assert low.tolist() == np.searchsorted(keys, needles, side="left").tolist()
    assert count.tolist() == (np.searchsorted(keys, needles, side="right") - low).tolist()


@given(small_keys, small_keys)
def test_merge_runs_is_a_stable_sort_of_both_runs(keys, later):
    rows = np.arange(len(keys), dtype=np.uint32)
    later_rows = np.arange(len(later), dtype=np.uint32) + np.uint32(len(keys))
    merged_keys, merged_rows = merge_runs(keys, rows, later, later_rows)
    order = np.argsort(np.concatenate([keys, later]), kind="stable")
    assert merged_keys.tolist() == np.concatenate([keys, later])[order].tolist()
    assert merged_rows.tolist() == np.concatenate([rows, later_rows])[order].tolist()


def test_large_tables_with_64_bit_keys():
    rng = np.random.default_rng(0)
    keys = np.sort(rng.integers(0, 1 << 20, 200_000).astype(np.uint64) << np.uint64(40))
    needles = np.sort(rng.integers(0, 1 << 20, 5_000).astype(np.uint64) << np.uint64(40))
    low, count = equal_ranges(keys, needles)
    assert (low == np.searchsorted(keys, needles)).all()
    assert (count == np.searchsorted(keys, needles, side="right") - low).all()
    assert count.sum() > 0  # the draw has hits, so the equal-run scan is exercised
