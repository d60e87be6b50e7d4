"""Train where the GPUs are: the train step as a Prefect deployment on a process work pool, on a real Prefect server
with a worker this test starts. The mixture goes over and the model comes back by SHA-256; the model is the one the
flow trains in its own process for the same seed, byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from collapse_guard.config import ModelParams, TrainingParams
from collapse_guard.errors import DataError
from collapse_guard.pipeline import exchange
from collapse_guard.pipeline.gate import GateVerdict
from collapse_guard.pipeline.handles import MixtureHandle
from collapse_guard.pipeline.mixing import Mixture, summarise
from collapse_guard.pipeline.step import SeedSchedule
from collapse_guard.records import atomic
from collapse_guard.records.provenance import feature_columns, stamp_real
from collapse_guard.records.versioning import file_digest
from collapse_guard.records.workspace import GenerationPaths
from collapse_guard.tabular.default_data import sample_default

PREFECT = str(Path(sys.executable).parent / "prefect")
MODEL = ModelParams.model_validate(
    {"class": "collapse_guard.tabular.gmm:GaussianMixtureGenerator", "options": {"components": 4, "epochs": 30}}
)
PASSED = GateVerdict(passed=True, failures=[], results={})


def a_mixture(folder: Path) -> MixtureHandle:
    frame = stamp_real(sample_default(300, 0.025, np.random.default_rng(3)), origin="test")
    path = folder / "mixture.parquet"
    atomic.write_parquet(path, frame)
    return MixtureHandle(path, summarise(Mixture(frame), "accumulate"), "", frame)


def a_generation(folder: Path, generation: int = 2) -> SimpleNamespace:
    """What the train step reads of a generation's context: where it writes, which generation, which seeds."""
    (folder / "gen").mkdir(parents=True)
    return SimpleNamespace(
        workspace=folder, generation=generation, seeds=SeedSchedule(7), paths=GenerationPaths(folder / "gen")
    )


def test_the_exchange_hands_over_only_the_bytes_it_names(tmp_path: Path):
    source = tmp_path / "model.pt"
    source.write_bytes(b"weights")
    digest = exchange.put(tmp_path / "x", exchange.MODELS, source, ".pt")
    assert digest == file_digest(source, "sha256")
    taken = exchange.take(tmp_path / "x", exchange.MODELS, digest, ".pt", tmp_path / "back.pt")
    assert taken.read_bytes() == b"weights"
    exchange.address(tmp_path / "x", exchange.MODELS, digest, ".pt").write_bytes(b"weights, changed")
    with pytest.raises(DataError, match="not the one named"):
        exchange.take(tmp_path / "x", exchange.MODELS, digest, ".pt", tmp_path / "again.pt")
    assert not (tmp_path / "again.pt").exists()  # nothing half-taken
    with pytest.raises(DataError, match="has no model"):
        exchange.take(tmp_path / "x", exchange.MODELS, "0" * 64, ".pt", tmp_path / "none.pt")


@pytest.fixture
def worker(prefect_server, tmp_path: Path):
    """A process worker polling a new work pool (it creates the pool), on the session's Prefect server."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    pool = "gpu-test"
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "OMP_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", pool, "--type", "process", "--limit", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        with get_client(sync_client=True) as client:
            while True:
                assert process.poll() is None, process.communicate()[0]
                try:
                    client.read_work_pool(pool)
                    break
                except Exception:  # not created yet
                    assert time.monotonic() < deadline, "the worker never created its pool"
                    time.sleep(1)
        yield pool
    finally:
        process.terminate()
        process.communicate(timeout=60)


@pytest.mark.e2e
def test_training_on_a_work_pool_gives_the_model_training_here_gives(worker: str, tmp_path: Path):
    from prefect import flow

    from collapse_guard.flows.remote_training import deploy_training
    from collapse_guard.tasks.train import train

    mixture = a_mixture(tmp_path)
    training = TrainingParams(work_pool=worker, deployment="test", exchange="exchange", timeout_seconds=300)

    @flow
    def a_generation_on_the_pool(ctx: SimpleNamespace):
        """As the guarded flow does it: the deployment registered in the flow run, then the train task."""
        deploy_training(training)
        return train(ctx, mixture, PASSED, MODEL, training)

    remote = a_generation_on_the_pool(a_generation(tmp_path / "remote"))
    here = train.fn(a_generation(tmp_path / "here"), mixture, PASSED, MODEL)

    assert file_digest(remote.path, "sha256") == file_digest(here.path, "sha256")
    assert remote.model_id == here.model_id == f"gen002-{remote.model_id[7:]}"
    (receipt,) = (tmp_path / "remote" / "exchange" / exchange.RECEIPTS).glob("*.json")  # written on the worker
    assert exchange.read_receipt(receipt.parent.parent, receipt.stem)["model_sha256"] == file_digest(
        remote.path, "sha256"
    )
    handed_over = tmp_path / "remote" / "exchange" / exchange.MIXTURES
    assert [p.name for p in handed_over.iterdir()] == [f"{file_digest(mixture.path, 'sha256')}.parquet"]
    features = mixture.frame[feature_columns(mixture.frame)]
    assert remote.model.loss(features) == pytest.approx(here.model.loss(features))
