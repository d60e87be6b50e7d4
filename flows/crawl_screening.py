"""Screening a crawl on Dask: batches are hashed in parallel by Prefect tasks on a ``DaskTaskRunner``, then
checked in crawl order against the anchor index and everything earlier (collapse_guard.text.dedup
.ScreeningStream), which gives the verdicts of screening the crawl whole in one process.

The cluster is a local one of ``text.dedup.dask_workers`` processes, or the existing cluster whose scheduler
``DASK_SCHEDULER_ADDRESS`` names (prefect-dask's ``address``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from prefect import flow

from collapse_guard.tasks.screening import check_in_order, hash_batch
from collapse_guard.text.corpus import TEXT, iter_corpus
from collapse_guard.text.dedup import AnchorIndex

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


def dask_runner(workers: int):
    """prefect-dask's runner: the cluster at ``$DASK_SCHEDULER_ADDRESS`` if set, else a local one with
    ``workers`` single-threaded processes (the hashing is numpy and Python: threads would share one GIL)."""
    from prefect_dask import DaskTaskRunner

    address = os.environ.get(SCHEDULER_ENV, "").strip()
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True})


@flow(name="screen-crawl", validate_parameters=False)
def screen_crawl(path: Path, anchor: AnchorIndex, batch_documents: int) -> pd.DataFrame:
    """``find_duplicates`` of every document of the crawl at ``path`` against ``anchor`` and the crawl's
    earlier documents, one row per document with its ``line``. Run it with ``on_dask(workers)``."""
    hashed, lines = [], []
    for batch in iter_corpus(path, batch_documents):
        hashed.append(hash_batch.submit(batch[TEXT].tolist(), anchor.settings))
        lines.append(batch["line"].to_numpy())
    return check_in_order.submit(hashed, anchor, lines).result()


def on_dask(workers: int):
    """``screen_crawl`` with its tasks on Dask."""
    return screen_crawl.with_options(task_runner=dask_runner(workers))
