import numpy as np
import pytest
from datasketch import MinHash

from collapse_guard.text.dedup import (
    EXACT_DUPLICATE,
    NEAR_DUPLICATE_IN_BATCH,
    NEAR_DUPLICATE_OF_ANCHOR,
    AnchorIndex,
    DedupSettings,
    DocumentHashes,
    find_duplicates,
)
from collapse_guard.text.minhash_kernels import shingle_hashes
from collapse_guard.text.tokenizer import batch_token_ids


def _edit(text: str, rng: np.random.Generator, changes: int = 1) -> str:
    """A near-copy: a few words replaced, as a scraper's boilerplate or a light paraphrase would."""
    tokens = text.split()
    for i in rng.choice(len(tokens), size=changes, replace=False):
        tokens[i] = "zzyzx"
    return " ".join(tokens)


def test_signatures_equal_datasketch_minhash():
    texts = ["the quick brown fox jumps over the lazy dog", "a b", "", "one two three four five six"]
    settings = DedupSettings(num_perm=64, seed=3)
    signatures = DocumentHashes.of(texts, settings).signatures
    hashes, owner = shingle_hashes(*batch_token_ids(texts), settings.shingle_size)
    for row in (0, 1, 3):
        reference = MinHash(num_perm=64, seed=3, scheme="affine32", hashfunc=lambda h: h)
        reference.update_batch(hashes[owner == row])
        assert (reference.hashvalues == signatures[row]).all()
    assert (signatures[2] == 0xFFFFFFFF).all()  # empty document: no shingles


def test_planted_near_duplicates_are_found_and_unrelated_documents_kept(corpus):
    rng = np.random.default_rng(0)
    texts = corpus["text"].tolist()
    anchor = AnchorIndex(texts[:200])
    fresh = texts[200:300]
    batch = (
        fresh
        + [_edit(texts[i], rng) for i in range(0, 20)]  # near-copies of the anchor
        + [_edit(fresh[i], rng) for i in range(0, 20)]  # near-copies of earlier batch documents
        + [texts[5].upper(), fresh[3]]  # exact copies (case does not matter)
    )
    report = find_duplicates(batch, anchor)
    assert not report["drop"][:100].any()  # unrelated real paragraphs all stay
    assert (report["reason"][100:120] == NEAR_DUPLICATE_OF_ANCHOR).mean() >= 0.95
    assert (report["duplicate_of"][100:120] == np.arange(20)).mean() >= 0.95
    assert (report["reason"][120:140] == NEAR_DUPLICATE_IN_BATCH).mean() >= 0.95
    assert (report["duplicate_of"][120:140] == np.arange(20)).mean() >= 0.95
    assert report.loc[140, ["reason", "matched_in", "duplicate_of"]].tolist() == [EXACT_DUPLICATE, "anchor", 5]
    assert report.loc[141, ["reason", "matched_in", "duplicate_of"]].tolist() == [EXACT_DUPLICATE, "batch", 3]
    near = report[report["reason"].str.startswith("near")]
    assert (near["similarity"] >= 0.7).all()


def test_heavily_rewritten_documents_are_not_near_duplicates(corpus):
    rng = np.random.default_rng(1)
    texts = [t for t in corpus["text"] if len(t.split()) >= 60][:30]
    rewritten = [_edit(t, rng, changes=len(t.split()) // 3) for t in texts]
    report = find_duplicates(rewritten, AnchorIndex(texts))
    assert not report["drop"].any()


def test_empty_and_short_documents():
    report = find_duplicates(["", "", "hi", "hi there", "Hi!"])
    assert report["reason"].tolist() == ["", EXACT_DUPLICATE, "", "", ""]
    assert find_duplicates([]).empty


def test_an_exact_copy_up_to_case_and_spacing_is_dropped_and_the_first_copy_kept():
    texts = ["alpha beta gamma delta", "other words entirely here", "Alpha beta  gamma delta"]
    report = find_duplicates(texts)
    assert report["drop"].tolist() == [False, False, True]
    assert report.loc[2, "duplicate_of"] == 0 and report.loc[2, "reason"] == EXACT_DUPLICATE


def test_settings_are_validated():
    with pytest.raises(ValueError):
        DedupSettings(threshold=0)
    with pytest.raises(ValueError, match="anchor's settings"):
        find_duplicates(["a b c"], AnchorIndex(["a b c"]), DedupSettings(num_perm=64))
