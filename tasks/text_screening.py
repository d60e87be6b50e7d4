"""The text modality's Prefect tasks: hashing one batch of documents (tokens, MinHash, band keys) and scoring it
for known watermarks, the part that is independent per document and so runs on as many Dask workers as there
are (a crawl's batches, a generation's synthetic texts: ``DaskHashing``); then checking each crawl batch, in
crawl order, against the anchor and everything before it.

The guarded flow and ``collapse-guard ingest`` reach ``DaskHashing`` through collapse_guard.tasks.record_hashing
(``hashing_of``), the ``screen-crawl`` flow directly; the cluster itself is collapse_guard.tasks.cluster's.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.records.runtime import return_freed_memory
from collapse_guard.tasks.cluster import collected, runs_without_parameters, started, workers_report_here
from collapse_guard.text.corpus import TEXT
from collapse_guard.text.dedup import DedupSettings, DocumentHashes, ScreeningStream
from collapse_guard.text.params import DedupParams
from collapse_guard.text.screening import (
    MARK_COLUMNS,
    Hashed,
    WatermarkScreen,
    batch_slices,
    check_hashed,
    hash_batches_here,
    hash_documents,
    join_hashed,
)

if TYPE_CHECKING:
    from collapse_guard.text.modality import TextModality

BATCHES_PER_WORKER = 4  # several batches per worker: a slow worker (a shared machine) does not hold the rest up
IN_FLIGHT_PER_WORKER = 1  # a crawl's batches out per worker beyond the one checked (2: as fast, 116 MB more at 3M)
HASHING_SMALLER = "lower text.dedup.batch_documents"
HASHING_CRASHES = "native code or an external watermark detector"  # what else kills a worker that hashes


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


@dataclass(frozen=True)
class DaskHashing:
    """A ``collapse_guard.text.screening.DocumentHasher`` that hashes and scores big batches on Dask: the
    texts are cut into ``BATCHES_PER_WORKER`` batches per worker (at most ``batch_documents`` each), each a
    ``hash_batch`` task on a ``DaskTaskRunner`` started for this call and stopped after it, and the results
    joined in text order. Fewer than ``min_documents`` texts are hashed here, with no cluster."""

    workers: int
    min_documents: int
    batch_documents: int

    @classmethod
    def of(cls, dedup: DedupParams) -> DaskHashing:
        return cls(dedup.dask_workers, dedup.dask_min_documents, dedup.batch_documents)

    def uses_dask(self, documents: int) -> bool:
        return documents > 0 and documents >= self.min_documents

    def batch_size(self, documents: int) -> int:
        return min(self.batch_documents, math.ceil(documents / (self.workers * BATCHES_PER_WORKER)))

    def __call__(
        self, texts: list[str], settings: DedupSettings, screen: WatermarkScreen | None
    ) -> tuple[DocumentHashes, pd.DataFrame]:
        if not self.uses_dask(len(texts)):
            return hash_documents(texts, settings, screen, columns=None)
        with workers_report_here(), runs_without_parameters(), started(self.workers) as runner:
            futures = [
                runner.submit(  # a Series: Prefect and Dask walk a list's items one by one (1.2 CPU s per 100k)
                    hash_batch,
                    {"texts": pd.Series(texts[rows]), "settings": settings, "screen": screen, "columns": None},
                )
                for rows in batch_slices(len(texts), self.batch_size(len(texts)))
            ]
            return join_hashed(
                [
                    _collected(
                        future, runner.client, f"hashing batch {i + 1} of {len(futures)} of {len(texts):,} texts"
                    )
                    for i, future in enumerate(futures)
                ]
            )

    def stream(
        self, batches: Iterable[pd.DataFrame], settings: DedupSettings, screen: WatermarkScreen | None
    ) -> Iterator[tuple[pd.DataFrame, Hashed]]:
        """A ``collapse_guard.text.screening.BatchHasher`` for a crawl of unknown length: its batches are hashed
        here until ``min_documents`` have gone by, the rest on Dask (a cluster started then, with
        ``IN_FLIGHT_PER_WORKER`` batch per worker in flight while the caller checks the earlier ones); each
        batch comes back with its hashes in crawl order, as ``hash_batches_here`` would give it. A crawl
        allocates and frees for as long as it lasts: this process gives freed memory back from here on."""
        return_freed_memory()
        batches, seen = iter(batches), 0
        while seen < self.min_documents:
            batch = next(batches, None)
            if batch is None:
                return
            seen += len(batch)
            yield from hash_batches_here([batch], settings, screen)
        first = next(batches, None)
        if first is None:  # no cluster for nothing
            return
        pending: deque = deque()
        with workers_report_here(), started(self.workers) as runner:
            for batch in itertools.chain([first], batches):
                with runs_without_parameters():
                    future = runner.submit(hash_batch, {"texts": batch[TEXT], "settings": settings, "screen": screen})
                pending.append((batch, future))
                if len(pending) > self.workers * IN_FLIGHT_PER_WORKER:
                    done, hashed = pending.popleft()
                    yield done, _collected(hashed, runner.client, f"hashing {_lines_of(done)}")
            while pending:
                done, hashed = pending.popleft()
                yield done, _collected(hashed, runner.client, f"hashing {_lines_of(done)}")


def hashing_of(modality: TextModality) -> DaskHashing:
    """The text modality's record hashing (collapse_guard.tasks.record_hashing): on Dask from
    ``text.dedup.dask_min_documents`` documents on, with its ``dask_workers`` and ``batch_documents``."""
    return DaskHashing.of(modality.params.text.dedup)


def _collected(future, client, what: str):
    """``collapse_guard.tasks.cluster.collected``, with what a hashing batch's lost worker may have died of."""
    return collected(future, client, what, HASHING_SMALLER, HASHING_CRASHES)


def _lines_of(batch: pd.DataFrame) -> str:
    lines = batch["line"] if "line" in batch else pd.Series(range(1, len(batch) + 1))
    return f"the batch of lines {int(lines.iloc[0])}-{int(lines.iloc[-1])}" if len(lines) else "an empty batch"
