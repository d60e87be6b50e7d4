"""Crawl screening on a real two-worker local Dask cluster (prefect-dask) gives the verdicts of screening
the crawl whole in one process, written as files (verdicts and quarantine) only once the crawl is through."""

import json
from pathlib import Path

import pandas as pd
import pytest

from collapse_guard.errors import DataError
from collapse_guard.flows.crawl_screening import on_dask, output_paths
from collapse_guard.tasks.cluster import SCHEDULER_ENV, dask_runner
from collapse_guard.tasks.text_screening import DaskHashing
from collapse_guard.text.corpus import default_corpus
from collapse_guard.text.dedup import AnchorIndex, DedupSettings, find_duplicates


def _write(path: Path, texts: list[str]) -> None:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


@pytest.mark.usefixtures("prefect_server")
def test_two_dask_workers_screen_a_crawl_as_one_process_would(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    texts = default_corpus()["text"].tolist()[:90]
    crawl = texts[40:90] + [t.replace(" the ", " a ", 1) for t in texts[30:60]] + texts[45:50]
    path = tmp_path / "crawl.jsonl"
    _write(path, crawl)
    anchor = AnchorIndex(texts[:40])
    summary = on_dask(workers=2)(path, anchor, batch_documents=16, out_dir=tmp_path / "out")
    verdicts_path, quarantine_path = output_paths(path, tmp_path / "out")
    verdicts = pd.read_parquet(verdicts_path)
    whole = find_duplicates(crawl, anchor)
    assert verdicts["line"].tolist() == list(range(1, len(crawl) + 1))
    assert whole["drop"].sum() >= 30 and (verdicts["reason"] == whole["reason"]).all()
    assert (verdicts["duplicate_of"] == whole["duplicate_of"]).all()
    quarantined = pd.read_json(quarantine_path, lines=True)
    assert quarantined["line"].tolist() == verdicts["line"][verdicts["reason"] != ""].tolist()
    assert quarantined["text"].tolist() == [crawl[line - 1] for line in quarantined["line"]]
    assert summary["documents"] == len(crawl) and summary["kept"] == int((~whole["drop"]).sum())

    # a malformed line late in a second crawl: a clear error, and the first crawl's outputs untouched
    before = verdicts_path.read_bytes(), quarantine_path.read_bytes()
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(DataError, match="line"):
        on_dask(workers=2)(path, anchor, batch_documents=16, out_dir=tmp_path / "out")
    assert (verdicts_path.read_bytes(), quarantine_path.read_bytes()) == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([verdicts_path.name, quarantine_path.name])


def test_an_existing_cluster_is_used_when_its_address_is_set(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://10.0.0.5:8786")
    assert dask_runner(2).address == "tcp://10.0.0.5:8786"


def test_a_scheduler_that_does_not_answer_is_named_before_anything_is_written(tmp_path: Path, monkeypatch):
    """Here, not beside the tests with a module-wide Client: prefect-dask prefers a process's default Dask
    client to any address."""
    from distributed import get_client

    from collapse_guard.errors import ServiceUnavailable

    with pytest.raises(ValueError):
        get_client()  # no default client in this process
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://127.0.0.1:9")  # the discard port: nothing listens there
    batches = [pd.DataFrame({"text": default_corpus()["text"].tolist()[:10]})]
    with pytest.raises(ServiceUnavailable, match=r"Dask scheduler at tcp://127\.0\.0\.1:9") as raised:
        list(DaskHashing(workers=2, min_documents=0, batch_documents=10).stream(batches, DedupSettings(), None))
    assert raised.value.exit_code == 9 and "unset DASK_SCHEDULER_ADDRESS" in str(raised.value)


@pytest.mark.usefixtures("prefect_server")
def test_a_batch_that_kills_its_worker_is_named_and_nothing_is_written(tmp_path: Path, monkeypatch):
    """A worker that dies on a batch (here an external detector that exits its process, as an out-of-memory
    kill would) is Dask's KilledWorker once the scheduler stops retrying: a ClusterLost (exit 9) naming the
    batch's lines, with no output written."""
    import os

    import dask

    from collapse_guard.errors import ClusterLost
    from collapse_guard.text.screening import WatermarkScreen

    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    texts = default_corpus()["text"].tolist()[:40]
    path = tmp_path / "crawl.jsonl"
    _write(path, texts)
    doomed = texts[20]

    def exits_on_one_batch(batch: list[str]) -> list[bool]:
        if doomed in batch:
            os._exit(1)
        return [False] * len(batch)

    screen = WatermarkScreen({}, 0.25, external={"crashes": exits_on_one_batch})
    out = tmp_path / "out"
    no_retry = dask.config.set({"distributed.scheduler.allowed-failures": 0})
    with no_retry, pytest.raises(ClusterLost, match=r"died 1 time\(s\) hashing the batch of lines 17-32") as raised:
        on_dask(workers=1)(path, AnchorIndex(texts[:5]), batch_documents=16, out_dir=out, screen=screen)
    assert raised.value.exit_code == 9 and "text.dedup.batch_documents" in str(raised.value)
    assert not out.exists() or not any(out.iterdir())


def test_workers_without_the_project_are_named_before_a_batch_is_sent(tmp_path: Path, monkeypatch):
    """A real scheduler and a real worker whose Python has the libraries but not this project (no site
    initialisation, so the editable install is not on its path): a ConfigError naming the worker, not an
    import error from inside a task. Here, not beside a module-wide Client (see the test above)."""
    import os
    import socket
    import subprocess
    import sys
    import sysconfig

    from distributed import Client, get_client

    from collapse_guard.errors import ConfigError

    with pytest.raises(ValueError):
        get_client()  # no default client in this process
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"],
        **quiet,
    )  # fmt: skip
    bare = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    worker = subprocess.Popen(
        [sys.executable, "-S", "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny",
         "--no-dashboard"],
        env=bare,
        **quiet,
    )  # fmt: skip
    try:
        with Client(address, set_as_default=False, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        monkeypatch.setenv(SCHEDULER_ENV, address)
        batches = [pd.DataFrame({"text": default_corpus()["text"].tolist()[:10]})]
        with pytest.raises(ConfigError, match=r"1 of the 1 Dask worker\(s\) at tcp://127\.0\.0\.1") as raised:
            list(DaskHashing(workers=1, min_documents=0, batch_documents=10).stream(batches, DedupSettings(), None))
        assert raised.value.exit_code == 2 and "install this project" in str(raised.value)
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def test_a_local_clusters_workers_and_this_process_return_freed_memory(monkeypatch):
    """The workers get glibc's fixed thresholds from the nanny's environment; the process sets its own. In a
    fresh process: Dask's config must be intact when nothing had imported ``distributed`` before."""
    import subprocess
    import sys

    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    script = (
        "import json, os\n"
        "from collapse_guard.records.runtime import HEAP_ENVIRON, return_freed_memory\n"
        "from collapse_guard.tasks.cluster import started\n"
        "with started(2) as runner:\n"
        "    found = runner.client.run(lambda: {n: os.environ.get(n) for n in HEAP_ENVIRON})\n"
        "print(json.dumps({'mallopt': return_freed_memory(), 'workers': list(found.values()), 'want': HEAP_ENVIRON}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    import platform

    assert report["mallopt"] or platform.libc_ver()[0] != "glibc", "glibc's mallopt refused the thresholds"
    assert len(report["workers"]) == 2 and all(environ == report["want"] for environ in report["workers"]), report


@pytest.mark.usefixtures("prefect_server")
def test_a_scheduler_lost_mid_evaluation_is_a_named_cause_not_a_traceback(tmp_path: Path, monkeypatch):
    """An existing cluster (a real scheduler and worker, started as an operator would) whose scheduler dies
    while an evaluation's part runs: ClusterLost (exit 9) naming the part, not Dask's FutureCancelledError.
    Here, not beside the tests with a module-wide Client (prefect-dask would use that one)."""
    import subprocess
    import sys
    import threading
    import time
    from functools import partial

    from distributed import Client

    from collapse_guard.errors import ClusterLost
    from collapse_guard.tasks.cluster import DaskMetrics

    dask_cli = str(Path(sys.executable).parent / "dask")
    address_file = tmp_path / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [dask_cli, "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", str(address_file)], **quiet
    )
    worker = None
    try:
        while not address_file.exists() or not address_file.read_text().strip():
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        worker = subprocess.Popen([dask_cli, "worker", address, "--nthreads", "1", "--no-dashboard"], **quiet)
        monkeypatch.setenv(SCHEDULER_ENV, address)

        def kill_the_scheduler_once_a_part_runs() -> None:
            with Client(address, set_as_default=False) as watcher:
                while not any(watcher.processing().values()):
                    time.sleep(0.2)
            scheduler.kill()

        threading.Thread(target=kill_the_scheduler_once_a_part_runs, daemon=True).start()
        with pytest.raises(ClusterLost, match="lost while computing the evaluation's waiting metrics") as raised:
            DaskMetrics(workers=1, min_rows=0)({"waiting": partial(time.sleep, 120)}, 10)
        assert raised.value.exit_code == 9
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.kill()
