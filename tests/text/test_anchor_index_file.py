"""The anchor's near-duplicate index on disk: loaded when it was built for these rows, extended with new
rows only when the anchor grew, rebuilt (and said why) when it was built for something else."""

import numpy as np
import pandas as pd
import pytest

from collapse_guard.text.dedup import AnchorIndex, DedupSettings, ScreeningStream, find_duplicates
from collapse_guard.text.index_file import index_path, save, sync


def _anchor(texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"text": texts, "record_id": [f"id-{i}" for i in range(len(texts))]})


@pytest.fixture()
def texts(corpus) -> list[str]:
    return corpus["text"].tolist()[:150]


def _same(left, right) -> bool:
    return all((getattr(left.hashes, f) == getattr(right.hashes, f)).all() for f in ("exact", "signatures", "bands"))


def test_built_then_loaded_then_extended_by_the_new_rows_only(tmp_path, texts):
    path, settings = index_path(tmp_path / "anchor" / "real.parquet"), DedupSettings()
    assert path.parent == tmp_path / "anchor"
    first = sync(path, _anchor(texts[:100]), settings)
    assert (first.status, first.detail) == ("built", "no index file yet") and path.exists()
    assert sync(path, _anchor(texts[:100]), settings).status == "loaded"
    grown = sync(path, _anchor(texts), settings)
    assert (grown.status, grown.added_rows) == ("extended", 50)
    assert _same(grown.index, sync(path, _anchor(texts), settings).index)
    assert _same(grown.index, sync(tmp_path / "fresh.npz", _anchor(texts), settings).index)


def test_an_index_for_other_rows_or_settings_is_rebuilt_and_says_why(tmp_path, texts):
    path = tmp_path / "text.index.npz"
    sync(path, _anchor(texts[:100]), DedupSettings())
    rewritten = _anchor(texts[:100]).assign(record_id=lambda f: f["record_id"] + "x")
    assert "not the ones the index was built for" in sync(path, rewritten, DedupSettings(), write=False).detail
    assert "settings" in sync(path, _anchor(texts[:100]), DedupSettings(num_perm=64), write=False).detail
    assert "only 10" in sync(path, _anchor(texts[:10]), DedupSettings(), write=False).detail
    path.write_bytes(b"not an npz")
    assert sync(path, _anchor(texts[:10]), DedupSettings()).detail.startswith("unreadable index file")


def test_write_false_leaves_the_file_alone(tmp_path, texts):
    path = tmp_path / "text.index.npz"
    sync(path, _anchor(texts[:50]), DedupSettings())
    before = path.read_bytes()
    assert sync(path, _anchor(texts), DedupSettings(), write=False).status == "extended"
    assert path.read_bytes() == before
    save(path, sync(path, _anchor(texts), DedupSettings(), write=False).index, "digest")
    assert path.read_bytes() != before


def test_screening_a_stream_in_batches_drops_what_screening_it_whole_drops(texts):
    rng = np.random.default_rng(3)
    anchor_texts, crawl = texts[:60], texts[60:120]
    crawl = crawl + [t.replace(" the ", " a ", 1) for t in rng.choice(texts[:120], 40).tolist()] + crawl[:5]
    crawl = [crawl[i] for i in rng.permutation(len(crawl))]
    index = AnchorIndex(anchor_texts)
    whole = find_duplicates(crawl, index)
    stream = ScreeningStream(index)
    batched = pd.concat([stream.screen(crawl[i : i + 17]) for i in range(0, len(crawl), 17)], ignore_index=True)
    assert whole["drop"].any() and (batched["drop"] == whole["drop"]).all()
    assert (batched["reason"] == whole["reason"]).all()
    assert (batched["matched_in"] == whole["matched_in"]).all()
