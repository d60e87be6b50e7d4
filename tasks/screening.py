"""Prefect tasks of crawl screening: hashing one batch of documents (tokens, MinHash, band keys) and looking
for known watermarks in it, the part that is independent per batch and so runs on as many Dask workers as
there are; then checking each batch, in crawl order, against the anchor and everything before it."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.text.dedup import DedupSettings, DocumentHashes, ScreeningStream
from collapse_guard.text.screening import WatermarkScreen, triage_table, watermark_marks


@task(name="hash-crawl-batch", cache_policy=NO_CACHE)
def hash_batch(
    texts: list[str], settings: DedupSettings, screen: WatermarkScreen | None = None
) -> tuple[DocumentHashes, pd.DataFrame]:
    return DocumentHashes.of(texts, settings), watermark_marks(screen, texts)


@task(name="check-crawl-batch", cache_policy=NO_CACHE)
def check_batch(stream: ScreeningStream, hashed: tuple[DocumentHashes, pd.DataFrame]) -> pd.DataFrame:
    """The next hashed batch against the anchor and everything before it (cheap: sorting and binary search
    over hashes; ``stream`` keeps what later batches need); one verdict row per document."""
    hashes, marks = hashed
    return triage_table(stream.screen_hashed(hashes), marks)
