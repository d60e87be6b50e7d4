"""Curation's per-document work cut into batches (to run on Dask workers) and joined back equals the work
done on the whole batch at once: the property that lets the order-dependent check stay in one process."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.tasks.text_screening import BATCHES_PER_WORKER, DaskHashing
from collapse_guard.text.dedup import DedupSettings, DocumentHashes
from collapse_guard.text.screening import WatermarkScreen, batch_slices, hash_documents, join_hashed
from tests.text.conftest import TEST_KEY

SETTINGS = DedupSettings()
SCREEN = WatermarkScreen({TEST_KEY.key_id: TEST_KEY}, 0.25)
WORDS = ["the", "model", "anchor", "real", "text", "copy", "of", "a", "crawl", "word", "tail", "rare"]
# few words, short documents: exact copies, near-copies and empty documents all turn up
documents = st.lists(st.sampled_from(WORDS), max_size=14).map(" ".join)


@settings(max_examples=30)
@given(count=st.integers(0, 500), size=st.integers(-2, 600))
def test_batches_cover_every_row_once_in_order(count: int, size: int):
    slices = batch_slices(count, size)
    assert [row for s in slices for row in range(count)[s]] == list(range(count))
    assert all(0 < s.stop - s.start <= max(size, 1) for s in slices)


@settings(max_examples=25)
@given(texts=st.lists(documents, min_size=1, max_size=40), size=st.integers(1, 12))
def test_hashing_in_batches_and_joining_equals_hashing_the_whole(texts: list[str], size: int):
    whole_hashes, whole_scores = hash_documents(texts, SETTINGS, SCREEN, columns=None)
    joined_hashes, joined_scores = join_hashed(
        [hash_documents(texts[rows], SETTINGS, SCREEN, columns=None) for rows in batch_slices(len(texts), size)]
    )
    for field in fields(DocumentHashes):
        np.testing.assert_array_equal(getattr(joined_hashes, field.name), getattr(whole_hashes, field.name))
    pd.testing.assert_frame_equal(joined_scores, whole_scores)


@settings(max_examples=30)
@given(documents=st.integers(0, 10**7), workers=st.integers(1, 64), cap=st.integers(1, 10**6))
def test_dask_only_from_the_threshold_on_with_batches_for_every_worker(documents: int, workers: int, cap: int):
    hashing = DaskHashing(workers, min_documents=50_000, batch_documents=cap)
    assert hashing.uses_dask(documents) == (documents >= 50_000)
    if documents:  # as few batches as keep every worker busy (at most BATCHES_PER_WORKER each), capped in size
        size, most = hashing.batch_size(documents), workers * BATCHES_PER_WORKER
        assert 1 <= size <= cap
        assert len(batch_slices(documents, size)) <= most or size == cap
        assert size in (1, cap) or math.ceil(documents / (size - 1)) > most


@settings(max_examples=20)
@given(texts=st.lists(documents, min_size=1, max_size=40), chunk=st.integers(1, 12))
def test_hashing_a_batch_chunk_by_chunk_equals_hashing_it_at_once(texts: list[str], chunk: int):
    """hash_documents bounds its working memory by hashing HASH_CHUNK_DOCUMENTS at a time: same answer."""
    from unittest import mock

    from collapse_guard.text import screening

    at_once = DocumentHashes.of(texts, SETTINGS), SCREEN.scores(texts)
    with mock.patch.object(screening, "HASH_CHUNK_DOCUMENTS", chunk):
        hashes, scores = hash_documents(texts, SETTINGS, SCREEN, columns=None)
    for field in fields(DocumentHashes):
        np.testing.assert_array_equal(getattr(hashes, field.name), getattr(at_once[0], field.name))
    pd.testing.assert_frame_equal(scores, at_once[1])
