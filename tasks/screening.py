"""Prefect tasks of crawl screening: hashing one batch of documents (tokens, MinHash, band keys), the part
that is independent per batch and so runs on as many Dask workers as there are; then checking the batches
in crawl order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.text.dedup import AnchorIndex, DedupSettings, DocumentHashes, ScreeningStream


@task(name="hash-crawl-batch", cache_policy=NO_CACHE)
def hash_batch(texts: list[str], settings: DedupSettings) -> DocumentHashes:
    return DocumentHashes.of(texts, settings)


@task(name="check-crawl-in-order", cache_policy=NO_CACHE)
def check_in_order(batches: list[DocumentHashes], anchor: AnchorIndex, lines: list[np.ndarray]) -> pd.DataFrame:
    """Each hashed batch, in crawl order, against the anchor and everything before it (cheap: sorting and
    binary search over hashes); one verdict row per document with its ``line``."""
    stream = ScreeningStream(anchor)
    verdicts = [stream.screen_hashed(h).assign(line=n) for h, n in zip(batches, lines, strict=True)]
    return pd.concat(verdicts, ignore_index=True)
