"""The batch-vectorised MinHash path: per-document results independent of the batch, estimates near the
true Jaccard similarity, the greedy keep-first rule held, and an index grown by rows equal to one built whole."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.text.dedup import (
    NEAR_DUPLICATE_IN_BATCH,
    AnchorIndex,
    DedupSettings,
    DocumentHashes,
    find_duplicates,
)
from collapse_guard.text.tokenizer import batch_token_ids, token_ids, words

WORD = st.sampled_from(["a", "b", "c", "d", "e", "f", "Go", "go!", "x-y", "ß", "n0", "'s", "\x01", "ΣΑΣ", "\x00"])
DOCUMENT = st.lists(WORD, max_size=12).map(" ".join)
SETTINGS = DedupSettings(num_perm=32)


@given(st.lists(DOCUMENT, max_size=12))
def test_batch_token_ids_equal_one_text_at_a_time(texts):
    ids, lengths = batch_token_ids(texts)
    expected = [token_ids(words(t)) for t in texts]
    assert lengths.tolist() == [len(e) for e in expected]
    assert ids.tolist() == [int(i) for e in expected for i in e]


@settings(max_examples=40, deadline=None)
@given(st.lists(DOCUMENT, min_size=1, max_size=10), st.integers(0, 9))
def test_a_documents_hashes_do_not_depend_on_its_batch(texts, pick):
    row = pick % len(texts)
    together = DocumentHashes.of(texts, SETTINGS)
    alone = DocumentHashes.of([texts[row]], SETTINGS)
    assert together.exact[row] == alone.exact[0]
    assert (together.signatures[row] == alone.signatures[0]).all()
    assert (together.bands[row] == alone.bands[0]).all()
    assert together.has_shingles[row] == alone.has_shingles[0]


def _shingles(text: str, size: int = 3) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 40))
def test_signature_agreement_estimates_jaccard(seed, changed):
    rng = np.random.default_rng(seed)
    base = [f"w{i}" for i in rng.integers(0, 10_000, size=80)]
    other = list(base)
    for i in rng.choice(80, size=changed, replace=False):
        other[i] = f"v{i}"
    texts = [" ".join(base), " ".join(other)]
    first, second = _shingles(texts[0]), _shingles(texts[1])
    truth = len(first & second) / len(first | second)
    signatures = DocumentHashes.of(texts, DedupSettings(num_perm=256)).signatures
    estimate = (signatures[0] == signatures[1]).mean()
    assert abs(estimate - truth) <= 4 * np.sqrt(truth * (1 - truth) / 256) + 0.02


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(WORD, min_size=3, max_size=8).map(" ".join), max_size=25), st.randoms(use_true_random=False))
def test_kept_documents_never_nearly_copy_each_other_and_drops_point_to_an_earlier_kept_one(texts, random):
    texts = texts + [t + " " + random.choice(["a", "b", "zz"]) for t in texts]  # plant near-copies
    report = find_duplicates(texts, settings=SETTINGS)
    hashes = DocumentHashes.of(texts, SETTINGS)
    kept = np.flatnonzero(~report["drop"].to_numpy() & hashes.has_shingles)
    for row in np.flatnonzero(report["reason"].to_numpy() == NEAR_DUPLICATE_IN_BATCH):
        partner = report.loc[row, "duplicate_of"]
        assert partner < row and not report.loc[partner, "drop"]
        assert (hashes.signatures[row] == hashes.signatures[partner]).mean() >= SETTINGS.threshold
    for i, j in zip(*np.triu_indices(len(kept), 1), strict=True):
        a, b = kept[i], kept[j]
        share_a_band = (hashes.bands[a] == hashes.bands[b]).any()
        assert not (share_a_band and (hashes.signatures[a] == hashes.signatures[b]).mean() >= SETTINGS.threshold)


def test_an_index_grown_by_rows_equals_one_built_whole(corpus):
    texts = corpus["text"].tolist()[:120]
    grown = AnchorIndex(texts[:70]).extended(texts[70:])
    whole = AnchorIndex(texts)
    for field in ("exact", "signatures", "bands", "has_shingles"):
        assert (getattr(grown.hashes, field) == getattr(whole.hashes, field)).all()
    batch = [texts[5], texts[100].upper(), texts[110] + " and one more word"]
    assert find_duplicates(batch, grown).equals(find_duplicates(batch, whole))
