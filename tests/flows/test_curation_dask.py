"""A text generation whose curation hashes and scores its synthetic documents on a real two-worker local
Dask cluster (prefect-dask, through DASK_SCHEDULER_ADDRESS) keeps and drops exactly what curating them in
one process does."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.config import load_params
from collapse_guard.generator import load_generator
from collapse_guard.modality.registry import modality_for
from collapse_guard.pipeline import step
from collapse_guard.pipeline.step import SeedSchedule
from collapse_guard.records import ledger
from collapse_guard.records.anchor import load_split
from collapse_guard.tasks.cluster import SCHEDULER_ENV
from tests.conftest import TINY_TEXT, write_params


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes, as ``text.dedup.dask_workers: 2`` would start."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as local, Client(local) as client:
        yield local, client


def _hash_batches_run(client) -> int:
    """How many ``hash-batch`` task runs the cluster's scheduler has seen (prefect-dask keys them by task name)."""

    def count(dask_scheduler) -> int:
        return sum(sum(p.state_counts.values()) for n, p in dask_scheduler.task_prefixes.items() if "hash" in n)

    return client.run_on_scheduler(count)


@pytest.mark.e2e
@pytest.mark.usefixtures("prefect_server")
def test_a_generation_curated_on_two_dask_workers_keeps_what_one_process_keeps(tmp_path: Path, cluster, monkeypatch):
    local, client = cluster
    monkeypatch.delenv("COLLAPSE_GUARD_WATERMARK_KEY", raising=False)
    monkeypatch.setenv(SCHEDULER_ENV, local.scheduler_address)
    workspace = tmp_path / "text-ws"
    workspace.mkdir()
    write_params(workspace, "params-text.yaml", TINY_TEXT, text={"dedup": {"dask_min_documents": 0}})
    before = _hash_batches_run(client)

    result = CliRunner().invoke(
        app, ["run", "--generations", "1", "--json", "--params", str(workspace / "params.yaml")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["generations"][1]["counts"]
    on_dask = pd.read_parquet(workspace / "generations-text/gen_001/synthetic.parquet")
    batches = _hash_batches_run(client) - before
    assert batches >= 2, "curation's hashing did not run on the cluster"

    # the same generation curated in this process: the previous model, its seed, the same anchor
    params = load_params(workspace / "params.yaml")
    generation_0 = next(e["body"] for e in ledger.read(params.ledger_path) if e["kind"] == "generation_recorded")
    kept, report = step.synthesize(
        modality_for(params),
        load_generator(generation_0["model_class"], params.resolve(generation_0["model_path"])),
        params.generation.synthetic_per_generation,
        params.decoding,
        load_split(params.anchor_path, params.data.holdout_fraction),
        generation=1,
        seeds=SeedSchedule(params.run.seed),
        model_id=generation_0["model_id"],
        run_id=on_dask["origin"].iloc[0],
    )
    assert report.to_dict() == {name: counts[name] for name in report.to_dict()}
    assert counts["generated"] == params.generation.synthetic_per_generation
    assert counts["kept"] < counts["generated"], "nothing dropped: the comparison would prove little"
    columns = ["record_id", "text", "decoding"]
    pd.testing.assert_frame_equal(on_dask[columns], kept[columns])
