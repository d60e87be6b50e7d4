"""Screening a crawl on Dask: batches are hashed (and scanned for known watermarks) in parallel by Prefect
tasks on a ``DaskTaskRunner``, then checked in crawl order against the anchor index and everything earlier
(collapse_guard.text.dedup.ScreeningStream), which gives the verdicts of screening the crawl whole in one
process. Memory stays bounded whatever the crawl's size: the crawl is read batch by batch, at most
``in_flight`` batches are out on the workers, the earlier documents' signatures spill to a temporary folder,
and the verdicts and the quarantine are written as they come (collapse_guard.text.screening_output).

The cluster is a local one of ``text.dedup.dask_workers`` processes, or the existing cluster whose scheduler
``DASK_SCHEDULER_ADDRESS`` names (prefect-dask's ``address``): collapse_guard.tasks.cluster.dask_runner.
"""

from __future__ import annotations

import tempfile
from collections import deque
from pathlib import Path

from prefect import flow

from collapse_guard.tasks.cluster import dask_runner
from collapse_guard.tasks.screening import check_batch, hash_batch
from collapse_guard.text.corpus import TEXT, iter_corpus
from collapse_guard.text.dedup import AnchorIndex, ScreeningStream
from collapse_guard.text.screening import WatermarkScreen
from collapse_guard.text.screening_output import ScreeningOutput


def output_paths(path: Path, out_dir: Path) -> tuple[Path, Path]:
    """Where the screening of the crawl at ``path`` writes its verdicts and its quarantine."""
    stem = Path(path).name.split(".")[0]
    return Path(out_dir) / f"{stem}.verdicts.parquet", Path(out_dir) / f"{stem}.quarantine.jsonl"


@flow(name="screen-crawl", validate_parameters=False)
def screen_crawl(
    path: Path,
    anchor: AnchorIndex,
    batch_documents: int,
    out_dir: Path,
    screen: WatermarkScreen | None = None,
    in_flight: int = 4,
) -> dict:
    """``triage_crawl`` of every document of the crawl at ``path`` against ``anchor`` and the crawl's earlier
    documents: verdicts (one row per document with its ``line``) and quarantine written to ``out_dir``
    (``output_paths``); returns their counts. Run it with ``on_dask(workers)``."""
    verdicts, quarantine = output_paths(path, out_dir)
    with tempfile.TemporaryDirectory(prefix="screen-crawl-") as spill, ScreeningOutput(verdicts, quarantine) as out:
        stream = ScreeningStream(anchor, spill_dir=Path(spill))
        pending: deque = deque()
        for batch in iter_corpus(path, batch_documents):
            # a Series, not a list: Prefect and Dask walk a list's items one by one (1.2 CPU s per 100k texts)
            pending.append((batch, hash_batch.submit(batch[TEXT], anchor.settings, screen)))
            if len(pending) > in_flight:
                done, hashed = pending.popleft()
                out.write(done, check_batch(stream, hashed.result()))
        while pending:
            done, hashed = pending.popleft()
            out.write(done, check_batch(stream, hashed.result()))
    return out.summary()


def on_dask(workers: int):
    """``screen_crawl`` with its tasks on Dask."""
    return screen_crawl.with_options(task_runner=dask_runner(workers))
