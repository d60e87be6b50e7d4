"""The compiled detection pass (collapse_guard.text.detection_kernel) against the numpy implementation it
replaced (tests/text/detection_oracle.py): the same counts, z, p-values, windows, spans and verdicts.

Both rank windows with a logarithm; numpy's vectorised log and the C library's may differ in the last bit,
which could only matter for two different windows whose ranks agree to 1e-16 (never seen on these inputs).
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collapse_guard.text import watermark as wm
from collapse_guard.text import winmax
from collapse_guard.text.hashing import GOLDEN_GAMMA, MASK_64, splitmix64_int
from tests.text import detection_oracle as oracle
from tests.text.conftest import TEST_KEY

SCHEMES = ["lefthash-h1", "selfhash-h2", "selfhash-h3", "selfhash-h4", "selfhash-h8"]
GAMMAS = [0.1, 0.25, 0.3, 0.5, 0.75]
VOCABULARIES = [2, 7, 60, 5000, 2**64]  # tiny ones repeat units all the time; the last never does


@st.composite
def batches(draw) -> tuple[list[np.ndarray], bytes, str, float]:
    """A batch of documents over one vocabulary, some with a planted marked passage (tokens chosen green by
    the generation side of the drawn key and scheme), a key, a scheme and a green fraction."""
    vocabulary = draw(st.sampled_from(VOCABULARIES))
    key = draw(st.binary(min_size=1, max_size=12))
    scheme = draw(st.sampled_from(SCHEMES))
    gamma = draw(st.sampled_from(GAMMAS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    documents = []
    for _ in range(draw(st.integers(0, 7))):
        document = rng.integers(0, vocabulary, draw(st.integers(0, 300)), dtype=np.uint64)
        marked = draw(st.integers(0, 80))
        if marked and vocabulary > 2:
            at = int(rng.integers(0, len(document) + 1))
            passage = _marked(marked, key, scheme, gamma, vocabulary, rng)
            document = np.concatenate([document[:at], passage, document[at:]])
        documents.append(document)
    return documents, key, scheme, gamma


def _marked(length: int, key: bytes, scheme: str, gamma: float, vocabulary: int, rng) -> np.ndarray:
    tokens = list(rng.integers(0, vocabulary, wm.MAX_CONTEXT, dtype=np.uint64))
    for _ in range(length):
        candidates = rng.integers(0, vocabulary, 6, dtype=np.uint64)
        green = wm.green_mask_context(np.asarray([tokens]), candidates, key, gamma, scheme)[0]
        tokens.append(candidates[np.argmax(green)])
    return np.asarray(tokens[wm.MAX_CONTEXT :], dtype=np.uint64)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.booleans())
def test_detect_equals_the_numpy_oracle(batch, distinct):
    documents, key, scheme, gamma = batch
    fast = wm.detect(documents, key, gamma, distinct, scheme)
    slow = oracle.detect(documents, key, gamma, distinct, scheme)
    for field in ("green", "scored", "z", "p_value"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), err_msg=field)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_the_scan_equals_the_numpy_oracle_window_for_window(batch):
    documents, key, scheme, gamma = batch
    fast = winmax.scan(documents, key, gamma, scheme, fpr=1e-3, uncertain_fpr=0.05)
    slow = oracle.scan(documents, key, gamma, scheme, fpr=1e-3, uncertain_fpr=0.05)
    for field, expected in slow.items():
        np.testing.assert_array_equal(getattr(fast, field), expected, err_msg=field)
    whole = oracle.detect(documents, key, gamma, True, scheme)
    np.testing.assert_array_equal(fast.whole_green, whole.green)
    np.testing.assert_array_equal(fast.whole_scored, whole.scored)
    np.testing.assert_array_equal(fast.whole_p, whole.p_value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_a_document_scores_the_same_alone_and_in_any_batch(batch):
    documents, key, scheme, gamma = batch
    together = winmax.scan(documents, key, gamma, scheme)
    for i, document in enumerate(documents):
        alone = winmax.scan([document], key, gamma, scheme)
        assert (alone.whole_green[0], alone.whole_scored[0]) == (together.whole_green[i], together.whole_scored[i])
        assert (alone.start[0], alone.end[0], alone.adjusted_p[0]) == (
            together.start[i],
            together.end[i],
            together.adjusted_p[i],
        )


def test_a_unit_whose_hash_is_zero_is_one_unit_like_any_other():
    """0 marks an empty slot of the kernel's set; a unit hashing to 0 is kept apart and still counted once.
    splitmix64 maps 0 to 0, so the token after ``previous`` that makes its unit's hash 0 is −seed·φ mod 2^64."""
    previous = 12345
    seed = splitmix64_int(previous ^ TEST_KEY.seed)
    zero = (-seed * int(GOLDEN_GAMMA)) & MASK_64
    document = np.array([previous, zero, previous, zero, 7, previous, zero, 9], dtype=np.uint64)
    for distinct in (True, False):
        fast = wm.detect([document], TEST_KEY, 0.25, distinct)
        by_hand = oracle.detect_reference([document.tolist()], TEST_KEY, 0.25, distinct)
        assert (fast.green[0], fast.scored[0]) == by_hand[0][:2]
    distinct = wm.detect([document], TEST_KEY, 0.25)
    assert distinct.scored[0] == 5  # (p, 0) once, (0, p), (0, 7), (7, p), (0, 9)
    scanned = winmax.scan([document], TEST_KEY, 0.25)
    assert (scanned.whole_green[0], scanned.whole_scored[0]) == (distinct.green[0], 5)


def test_token_batches_and_lists_of_arrays_are_the_same_input():
    texts = ["The cat sat on the mat.", "", "A dog.", "the cat sat on the mat, the cat sat"]
    as_batch = wm.TokenBatch.of_texts(texts)
    as_list = wm.texts_token_ids(texts)
    assert as_batch.lengths.tolist() == [len(ids) for ids in as_list]
    assert wm.TokenBatch.of(as_batch) is as_batch
    np.testing.assert_array_equal(wm.TokenBatch.of(as_list).ids, as_batch.ids)
    from_texts = oracle.detect_texts(texts, TEST_KEY, 0.25)
    np.testing.assert_array_equal(from_texts.scored, wm.detect(as_list, TEST_KEY, 0.25).scored)
    assert len(wm.TokenBatch.of([])) == 0 and wm.detect([], TEST_KEY, 0.25).z.shape == (0,)
