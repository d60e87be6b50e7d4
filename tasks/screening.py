"""Prefect tasks of screening: hashing one batch of documents (tokens, MinHash, band keys) and scoring it for
known watermarks, the part that is independent per document and so runs on as many Dask workers as there
are (a crawl's batches, a generation's synthetic texts); then checking each crawl batch, in crawl order,
against the anchor and everything before it."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.text.dedup import DedupSettings, DocumentHashes, ScreeningStream
from collapse_guard.text.screening import MARK_COLUMNS, WatermarkScreen, check_hashed, hash_documents


@task(name="hash-batch", cache_policy=NO_CACHE)
def hash_batch(
    texts: Sequence[str],
    settings: DedupSettings,
    screen: WatermarkScreen | None = None,
    columns: Sequence[str] | None = MARK_COLUMNS,
) -> tuple[DocumentHashes, pd.DataFrame]:
    """``hash_documents`` of one batch: a crawl needs the watermark marks only, curation every score column
    (``columns`` None)."""
    return hash_documents(texts, settings, screen, columns)


@task(name="check-crawl-batch", cache_policy=NO_CACHE)
def check_batch(stream: ScreeningStream, hashed: tuple[DocumentHashes, pd.DataFrame]) -> pd.DataFrame:
    """The next hashed batch against the anchor and everything before it (cheap: sorting and binary search
    over hashes; ``stream`` keeps what later batches need); one verdict row per document."""
    return check_hashed(stream, hashed)
