"""Where independent parts of the work go when one process is not enough: prefect-dask's task runner on a local
cluster, or on an existing one (``$DASK_SCHEDULER_ADDRESS``). This module starts or joins the cluster
(``started``), sends it tasks from the run that submits them (``runs_without_parameters``,
``workers_report_here``), and names a cluster lost under a task (``collected``: ClusterLost, exit 9). It
knows no modality: ``DaskMetrics`` runs the parts of any modality's evaluation, and a modality whose records
are hashed on Dask brings its own tasks (collapse_guard.tasks.record_hashing says which).

A cluster costs seconds to start (its workers import Prefect and the project) and every part travels to a
worker and back, so it pays off only on big work and spare cores: below a threshold (``evaluation.dask_min_rows``
here, a modality's own for its records) the work stays in the calling process and no cluster is started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from collapse_guard.config import EvaluationParams
from collapse_guard.errors import ClusterLost, ConfigError, ServiceUnavailable
from collapse_guard.modality.base import MetricJob, run_here
from collapse_guard.records.runtime import HEAP_ENVIRON
from collapse_guard.tasks.evaluate import evaluation_part

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
CONNECT_SECONDS = 10  # an existing scheduler that has not answered by then is down
METRICS_SMALLER = "lower evaluation.max_reference_rows or evaluation.sample_size"
NO_WORKER_SECONDS = 60  # a cluster without any worker this long is lost (Dask would wait for ever)
POLL_SECONDS = 5  # how often a wait for a task asks whether the cluster still has workers


def dask_runner(workers: int):
    """prefect-dask's runner: the cluster at ``$DASK_SCHEDULER_ADDRESS`` if set, else a local one with
    ``workers`` single-threaded processes (the parts are numpy and Python: threads would share one GIL)."""
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
def workers_report_here() -> Iterator[None]:
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
        with workers_report_here(), runs_without_parameters(), started(self.workers) as runner:
            futures = {name: runner.submit(evaluation_part, {"name": name, "job": job}) for name, job in jobs.items()}
            return {
                name: collected(
                    future, runner.client, f"computing the evaluation's {name} metrics ({rows:,} rows)", METRICS_SMALLER
                )
                for name, future in futures.items()
            }


def collected(future, client, what: str, smaller: str, crashed_by: str = "native code"):
    """``future.result()``, or a ClusterLost (exit 9) naming ``what`` it was doing, not a traceback or a wait
    without end, when the cluster fails under it: a task that killed its worker on every try (Dask's
    ``KilledWorker``: out of memory, ``smaller`` says how to shrink it, or a crash in ``crashed_by``), a
    scheduler that went away, or no worker left on ``client``'s cluster for
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
            f"memory ({smaller}, or give the workers more) or when {crashed_by} crashes it "
            f"(run it in one process to see the crash)"
        ) from error
    except (FutureCancelledError, CommClosedError) as error:
        raise ClusterLost(
            f"the Dask cluster was lost while {what} ({type(error).__name__}: {error}): its scheduler went "
            f"away; start it again, or unset {SCHEDULER_ENV} to use a local cluster"
        ) from error


@contextmanager
def runs_without_parameters() -> Iterator[None]:
    """Submit tasks from run contexts whose parameters are emptied. prefect-dask ships the flow run's and
    the task run's context with every task it submits (``prefect.context.serialize_context``), parameters
    included: for curation the guarded flow's modality (with the anchor's near-duplicate index in memory,
    33 MB pickled per 50,000 anchor documents) and the generation context, for a crawl the whole anchor
    index, to a worker with every batch. The workers need the runs (their task runs stay linked to the flow
    run), not their arguments.

    Prefect's public context API does it: a run context's ``model_copy`` is a fresh context (Prefect drops the
    copy's entry token for this), entered with ``with`` for the time of the submissions and left after, which
    restores the run's own context. tests/flows/test_text_on_dask.py checks what is shipped."""
    from prefect.context import EngineContext, TaskRunContext

    with ExitStack() as entered:
        for context in (EngineContext, TaskRunContext):
            current = context.get()
            if current is not None:
                entered.enter_context(current.model_copy(update={"parameters": {}}))
        yield
