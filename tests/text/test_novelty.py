import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.text.novelty import NgramIndex

documents = st.lists(st.lists(st.integers(0, 6), max_size=30), max_size=8)


@settings(max_examples=60, deadline=None)
@given(documents, st.integers(2, 4), st.lists(st.lists(st.integers(0, 6), min_size=3, max_size=3), min_size=1))
def test_forbidden_continuations_match_brute_force(docs, n, queries):
    index = NgramIndex.build([np.asarray(d, dtype=np.int64) for d in docs], n)
    truth: dict[tuple, set] = {}
    for d in docs:
        for i in range(len(d) - n + 1):
            truth.setdefault(tuple(d[i : i + n - 1]), set()).add(d[i + n - 1])
    recent = np.asarray([q[: n - 1] for q in queries], dtype=np.int64)
    rows, tokens = index.forbidden(recent)
    found: dict[int, set] = {}
    for row, token in zip(rows.tolist(), tokens.tolist(), strict=True):
        found.setdefault(row, set()).add(token)
    for row, prefix in enumerate(recent.tolist()):
        assert found.get(row, set()) == truth.get(tuple(prefix), set())


def test_state_round_trip():
    index = NgramIndex.build([np.arange(10), np.array([3, 4, 9])], 3)
    again = NgramIndex.from_state(index.to_state())
    assert again.n == 3
    assert (again.prefixes == index.prefixes).all() and (again.continuations == index.continuations).all()
