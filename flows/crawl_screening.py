"""Screening a crawl on Dask: batches are hashed (and scanned for known watermarks) in parallel by Prefect
tasks on a ``DaskTaskRunner``, then checked in crawl order against the anchor index and everything earlier
(collapse_guard.text.dedup.ScreeningStream), which gives the verdicts of screening the crawl whole in one
process. Memory stays bounded whatever the crawl's size: the crawl is read batch by batch, a few batches
per worker are out on the workers (collapse_guard.tasks.text_screening.DaskHashing.stream), the earlier
documents' signatures spill to a temporary folder, and the verdicts and the quarantine are written as they
come (collapse_guard.text.screening_output).

The cluster is a local one of ``text.dedup.dask_workers`` processes, or the existing cluster whose scheduler
``DASK_SCHEDULER_ADDRESS`` names (prefect-dask's ``address``): collapse_guard.tasks.cluster.dask_runner.
``collapse-guard ingest`` screens a crawl the same way (collapse_guard.text.modality.TextModality.incoming).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import closing
from functools import partial
from pathlib import Path

from prefect import flow

from collapse_guard.tasks.text_screening import DaskHashing, check_batch
from collapse_guard.text.corpus import iter_corpus
from collapse_guard.text.dedup import AnchorIndex, ScreeningStream
from collapse_guard.text.screening import WatermarkScreen, hash_batches_here
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
    hashing: DaskHashing | None = None,
) -> dict:
    """``triage_crawl`` of every document of the crawl at ``path`` against ``anchor`` and the crawl's earlier
    documents: verdicts (one row per document with its ``line``) and quarantine written to ``out_dir``
    (``output_paths``); returns their counts. Batches are hashed by ``hashing`` (``DaskHashing.stream``) or,
    without, in this process; each is checked here, in crawl order."""
    verdicts, quarantine = output_paths(path, out_dir)
    hash_batches = hashing.stream if hashing is not None else hash_batches_here
    with (
        tempfile.TemporaryDirectory(prefix="screen-crawl-") as spill,
        ScreeningOutput(verdicts, quarantine) as out,
        closing(hash_batches(iter_corpus(path, batch_documents), anchor.settings, screen)) as hashed_batches,
    ):
        stream = ScreeningStream(anchor, spill_dir=Path(spill))
        for batch, hashed in hashed_batches:
            out.write(batch, check_batch(stream, hashed))
    return out.summary()


def on_dask(workers: int) -> Callable[..., dict]:
    """``screen_crawl`` with every batch hashed on ``workers`` Dask workers (or the cluster
    ``DASK_SCHEDULER_ADDRESS`` names), whatever the crawl's size."""
    return partial(screen_crawl, hashing=DaskHashing(workers, min_documents=0, batch_documents=0))
