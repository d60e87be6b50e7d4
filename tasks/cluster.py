"""Where the heavy per-document work goes when one process is not enough: prefect-dask's task runner on a
local cluster, or on an existing one. Shared, through ``DaskHashing``, by crawl screening (the
``screen-crawl`` flow in flows/crawl_screening.py, and ``collapse-guard ingest``) and the curation of a
generation's synthetic text (flows/guarded_retraining.py); through ``DaskMetrics``, by the evaluation of a
generation whose samples and reference are big.

A cluster costs seconds to start (its workers import Prefect and the project) and every batch travels to a
worker and back, so it pays off only on big batches and spare cores: below ``text.dedup.dask_min_documents``
documents the work stays in the calling process and no cluster is started.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pandas as pd

from collapse_guard.config import EvaluationParams
from collapse_guard.errors import ClusterLost, ConfigError, ServiceUnavailable
from collapse_guard.modality.base import MetricJob, run_here
from collapse_guard.records.runtime import HEAP_ENVIRON, return_freed_memory
from collapse_guard.tasks.evaluate import evaluation_part
from collapse_guard.tasks.screening import hash_batch
from collapse_guard.text.corpus import TEXT
from collapse_guard.text.dedup import DedupSettings, DocumentHashes
from collapse_guard.text.params import DedupParams
from collapse_guard.text.screening import (
    Hashed,
    WatermarkScreen,
    batch_slices,
    hash_batches_here,
    hash_documents,
    join_hashed,
)

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
BATCHES_PER_WORKER = 4  # several batches per worker: a slow worker (a shared machine) does not hold the rest up
CONNECT_SECONDS = 10  # an existing scheduler that has not answered by then is down
HASHING_SMALLER = "lower text.dedup.batch_documents"
METRICS_SMALLER = "lower evaluation.max_reference_rows or evaluation.sample_size"
NO_WORKER_SECONDS = 60  # a cluster without any worker this long is lost (Dask would wait for ever)
POLL_SECONDS = 5  # how often a wait for a task asks whether the cluster still has workers
IN_FLIGHT_PER_WORKER = 1  # a crawl's batches out per worker beyond the one checked (2: as fast, 116 MB more at 3M)


def dask_runner(workers: int):
    """prefect-dask's runner: the cluster at ``$DASK_SCHEDULER_ADDRESS`` if set, else a local one with
    ``workers`` single-threaded processes (the hashing is numpy and Python: threads would share one GIL)."""
    from prefect_dask import DaskTaskRunner

    address = os.environ.get(SCHEDULER_ENV, "").strip()
    if address:
        return DaskTaskRunner(address=address, client_kwargs={"timeout": CONNECT_SECONDS})
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True})


def _local_workers_return_freed_memory() -> None:
    """Local workers start with ``runtime.HEAP_ENVIRON`` (glibc reads it when a process starts, so it goes
    through Dask's pre-spawn environment; see ``return_freed_memory`` for why). Set once for the process,
    not restored: only the workers of the clusters this process starts read it."""
    import dask
    import distributed  # noqa: F401  (loads its config defaults: setting a key before would hide them)

    environ = dask.config.get("distributed.nanny.pre-spawn-environ")
    dask.config.set({"distributed.nanny.pre-spawn-environ": {**environ, **HEAP_ENVIRON}})


@contextmanager
def started(workers: int) -> Iterator:
    """``dask_runner(workers)``, started; a scheduler at ``$DASK_SCHEDULER_ADDRESS`` that does not answer is a
    ServiceUnavailable (exit 9) naming it, not a traceback. Nothing has been written by then: an ingest
    leaves the anchor as it was, a generation stops before its mixture."""
    address = os.environ.get(SCHEDULER_ENV, "").strip()
    if not address:
        _local_workers_return_freed_memory()
    with ExitStack() as stack:
        try:
            runner = stack.enter_context(dask_runner(workers))
            _ = runner.client  # prefect-dask connects on first use: connect now, before any batch is handed out
        except (OSError, TimeoutError) as error:
            if not address:
                raise
            raise ServiceUnavailable(
                f"the Dask scheduler at {address} ({SCHEDULER_ENV}) did not answer within {CONNECT_SECONDS} s "
                f"({error}): start it, or unset {SCHEDULER_ENV} to use a local cluster of {workers} workers"
            ) from error
        if address:
            _check_workers(runner.client, address)
        yield runner


def _check_workers(client, address: str) -> None:
    """An existing cluster's workers run this project's functions: a worker without it (or with another
    version) is a ConfigError naming it, before any batch is sent. Without this check a batch sent to such a
    worker never came back (the task could not be unpickled there, and the run waited)."""
    from importlib.metadata import version

    def installed() -> str:  # defined here: pickled by value, so a worker without the project can run it
        from importlib.metadata import version

        import collapse_guard  # noqa: F401  (the package's metadata can be found where the package cannot)

        return version("collapse-guard")

    wanted = version("collapse-guard")
    found = client.run(installed, on_error="return")
    wrong = {worker: got for worker, got in found.items() if got != wanted}
    if wrong:
        worker, got = sorted(wrong.items())[0]
        raise ConfigError(
            f"{len(wrong)} of the {len(found)} Dask worker(s) at {address} ({SCHEDULER_ENV}) cannot run "
            f"collapse-guard {wanted}'s tasks ({worker}: {got!r}): install this project in the workers' "
            f"environment, or unset {SCHEDULER_ENV} to use a local cluster"
        )


@contextmanager
def _workers_report_here() -> Iterator[None]:
    """Tasks on Dask workers report to this process's Prefect API. prefect-dask hands the workers this
    process's settings; without a ``PREFECT_API_URL`` (the temporary server of a plain ``run``), each worker
    would start a temporary server of its own (seconds and ~260 MB each) and the task runs would be lost
    with it. Name the one this process uses."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client, temporary_settings({PREFECT_API_URL: str(client.api_url)}):
        yield


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
        with _workers_report_here(), runs_without_parameters(), started(self.workers) as runner:
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
        with _workers_report_here(), started(self.workers) as runner:
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


@dataclass(frozen=True)
class DaskMetrics:
    """A ``collapse_guard.modality.base.MetricRunner``: an evaluation's independent parts (the k-NN metrics,
    modes, tail, loss) as ``evaluation-part`` tasks on Dask, one per part, when the evaluation has at least
    ``min_rows`` rows (samples and held-out reference); below, in this process with no cluster started. The
    parts are computed by the same functions either way, so the metrics are the same."""

    workers: int
    min_rows: int

    @classmethod
    def of(cls, evaluation: EvaluationParams) -> DaskMetrics:
        return cls(evaluation.dask_workers, evaluation.dask_min_rows)

    def uses_dask(self, rows: int) -> bool:
        return rows > 0 and rows >= self.min_rows

    def __call__(self, jobs: Mapping[str, MetricJob], rows: int) -> dict[str, dict[str, float]]:
        if not self.uses_dask(rows):
            return run_here(jobs, rows)
        with _workers_report_here(), runs_without_parameters(), started(self.workers) as runner:
            futures = {name: runner.submit(evaluation_part, {"name": name, "job": job}) for name, job in jobs.items()}
            return {
                name: _collected(
                    future, runner.client, f"computing the evaluation's {name} metrics ({rows:,} rows)", METRICS_SMALLER
                )
                for name, future in futures.items()
            }


def _lines_of(batch: pd.DataFrame) -> str:
    lines = batch["line"] if "line" in batch else pd.Series(range(1, len(batch) + 1))
    return f"the batch of lines {int(lines.iloc[0])}-{int(lines.iloc[-1])}" if len(lines) else "an empty batch"


def _collected(future, client, what: str, smaller: str = HASHING_SMALLER):
    """``future.result()``, or a ClusterLost (exit 9) naming ``what`` it was doing, not a traceback or a wait
    without end, when the cluster fails under it: a task that killed its worker on every try (Dask's
    ``KilledWorker``: out of memory, ``smaller`` says how to shrink it, or a crash in native code or in an
    external detector), a scheduler that went away, or no worker left on ``client``'s cluster for
    ``NO_WORKER_SECONDS`` (Dask's own default waits for one for ever). The caller has written nothing for it
    (a crawl's outputs and an ingest's anchor part are published only at the end, a generation's outputs
    after its evaluation)."""
    import dask
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    without_workers = 0.0
    try:
        while True:
            try:
                return future.result(timeout=POLL_SECONDS)
            except TimeoutError:
                try:
                    workers = client.scheduler_info().get("workers")
                except OSError as error:  # the scheduler itself is gone
                    raise CommClosedError(str(error)) from error
                without_workers = 0.0 if workers else without_workers + POLL_SECONDS
                if without_workers >= NO_WORKER_SECONDS:
                    raise ClusterLost(
                        f"the Dask cluster has had no worker for {NO_WORKER_SECONDS} s while {what}: start "
                        f"workers for it, or unset {SCHEDULER_ENV} to use a local cluster"
                    ) from None
    except KilledWorker as error:
        tries = int(dask.config.get("distributed.scheduler.allowed-failures")) + 1
        raise ClusterLost(
            f"Dask workers died {tries} time(s) {what} ({error}): a worker is killed when it runs out of "
            f"memory ({smaller}, or give the workers more) or when native code or an "
            f"external watermark detector crashes it (run it in one process to see the crash)"
        ) from error
    except (FutureCancelledError, CommClosedError) as error:
        raise ClusterLost(
            f"the Dask cluster was lost while {what} ({type(error).__name__}: {error}): its scheduler went "
            f"away; start it again, or unset {SCHEDULER_ENV} to use a local cluster"
        ) from error


@contextmanager
def runs_without_parameters() -> Iterator[None]:
    """Submit tasks from run contexts whose parameters are emptied. prefect-dask ships the flow run's and
    the task run's context with every task it submits, parameters included: for curation the guarded
    flow's modality (with the anchor's near-duplicate index in memory, 33 MB pickled per 50,000 anchor
    documents) and the generation context, for a crawl the whole ``AnchorIndex``, to a worker with every
    batch. The workers need the runs (their task runs stay linked to the flow run), not their arguments."""
    from prefect.context import EngineContext, TaskRunContext

    resets = []
    for context in (EngineContext, TaskRunContext):
        current = context.get()
        if current is not None:
            resets.append((context.__var__, context.__var__.set(current.model_copy(update={"parameters": {}}))))
    try:
        yield
    finally:
        for var, token in reversed(resets):
            var.reset(token)
