"""A crawl screened batch by batch with the earlier documents spilled to disk drops exactly what screening it
whole in memory drops; the spilled index holds its signatures on disk, not in memory."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.text import dedup
from collapse_guard.text.dedup import AnchorIndex, DedupSettings, ScreeningStream, find_duplicates

WORD = st.sampled_from([f"w{i}" for i in range(30)])
DOCUMENT = st.lists(WORD, min_size=0, max_size=14).map(" ".join)
SETTINGS = DedupSettings(num_perm=32)
COLUMNS = ["drop", "reason", "matched_in", "duplicate_of"]


def _crawl(originals: list[str], anchor: list[str], rng: np.random.Generator) -> list[str]:
    """Originals with planted near-copies (one word changed or added), exact copies (case and spacing
    changed) of earlier documents and of the anchor, shuffled."""
    pool = originals + anchor
    near = [t + " zz" for t in rng.choice(pool, len(pool) // 2).tolist()] if pool else []
    exact = ["  " + t.upper() for t in rng.choice(pool, len(pool) // 3).tolist()] if pool else []
    crawl = originals + near + exact
    return [crawl[i] for i in rng.permutation(len(crawl))]


@pytest.fixture(autouse=True)
def _small_segments_spill(monkeypatch):
    monkeypatch.setattr(dedup, "_SPILL_ROWS", 4)  # so that these small crawls exercise the on-disk tables
    monkeypatch.setattr(dedup, "_WHOLE_BAND_READ", 0)  # and read their candidates row by row (pread)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(DOCUMENT, max_size=40),
    st.lists(DOCUMENT, max_size=15),
    st.integers(1, 17),
    st.integers(0, 2**32 - 1),
)
def test_a_spilled_stream_drops_what_screening_the_crawl_whole_drops(tmp_path_factory, originals, anchor, size, seed):
    crawl = _crawl(originals, anchor, np.random.default_rng(seed))
    index = AnchorIndex(anchor, SETTINGS) if anchor else None
    whole = find_duplicates(crawl, index, None if index else SETTINGS)
    stream = ScreeningStream(index, SETTINGS if index is None else None, spill_dir=tmp_path_factory.mktemp("spill"))
    parts = [stream.screen(crawl[i : i + size]) for i in range(0, len(crawl), size)]
    batched = pd.concat(parts, ignore_index=True) if parts else whole
    assert batched[COLUMNS].equals(whole[COLUMNS])
    assert np.allclose(batched["similarity"], whole["similarity"])


def test_planted_copies_are_dropped_and_the_spilled_index_keeps_signatures_on_disk(corpus, tmp_path):
    texts = corpus["text"].tolist()[:200]
    anchor = AnchorIndex(texts[:50], spill_dir=tmp_path)
    crawl = _crawl(texts[50:], texts[:50], np.random.default_rng(0))
    whole = find_duplicates(crawl, AnchorIndex(texts[:50]))
    stream = ScreeningStream(anchor, spill_dir=tmp_path)
    batched = pd.concat([stream.screen(crawl[i : i + 40]) for i in range(0, len(crawl), 40)], ignore_index=True)
    assert batched[COLUMNS].equals(whole[COLUMNS]) and whole["drop"].sum() >= 100
    assert {"exact_duplicate", "near_duplicate_of_anchor", "near_duplicate_in_batch"} <= set(whole["reason"])
    on_disk = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert on_disk >= len(crawl) * anchor.settings.num_perm * 4  # every earlier signature, 4 bytes a cell
    assert (stream.earlier.signatures == dedup.DocumentHashes.of(crawl, anchor.settings).signatures).all()
