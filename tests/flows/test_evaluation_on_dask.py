"""A generation's evaluation on a real two-worker local Dask cluster (prefect-dask, through
DASK_SCHEDULER_ADDRESS) measures exactly what one process measures: its parts run as ``evaluation-part`` tasks
on the workers, and the metrics recorded are those of the same model evaluated here."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.generator import load_generator
from collapse_guard.modality.registry import load_params, modality_for
from collapse_guard.pipeline import step
from collapse_guard.pipeline.step import SeedSchedule
from collapse_guard.records import ledger
from collapse_guard.records.anchor import load_split
from collapse_guard.tasks.cluster import SCHEDULER_ENV, DaskMetrics
from tests.conftest import write_params


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as local, Client(local) as client:
        yield local, client


def _parts_run(client) -> int:
    """How many ``evaluation-part`` tasks the cluster has finished (prefect-dask keys them by task name)."""

    def count(dask_scheduler) -> int:
        return sum(p.state_counts["memory"] for n, p in dask_scheduler.task_prefixes.items() if "evaluation" in n)

    return client.run_on_scheduler(count)


@pytest.mark.e2e
@pytest.mark.usefixtures("prefect_server")
def test_a_generation_evaluated_on_two_dask_workers_records_what_one_process_measures(
    tmp_path: Path, cluster, monkeypatch
):
    local, client = cluster
    monkeypatch.setenv(SCHEDULER_ENV, local.scheduler_address)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    write_params(workspace, evaluation={"dask_min_rows": 0})
    before = _parts_run(client)

    result = CliRunner().invoke(app, ["run", "--generations", "1", "--params", str(workspace / "params.yaml")])
    assert result.exit_code == 0, result.output
    parts = _parts_run(client) - before
    assert parts == 2 * 7, f"{parts} evaluation parts ran on the cluster, not 7 per generation (no categorical)"

    params = load_params(workspace / "params.yaml")
    recorded = [e["body"] for e in ledger.read(params.ledger_path) if e["kind"] == "generation_recorded"]
    last = recorded[-1]
    modality = modality_for(params)
    evaluation, _ = step.evaluate(  # the same model, seed and anchor, evaluated in this process
        modality.evaluator(load_split(params.anchor_path, params.data.holdout_fraction)),
        load_generator(last["model_class"], params.resolve(last["model_path"])),
        generation=last["generation"],
        seeds=SeedSchedule(params.run.seed),
    )
    here = evaluation.to_dict()
    assert {"precision", "tail_coverage", "rare_mode_retention", "heldout_real_loss"} <= set(here)
    assert list(here)[list(here).index("precision") :][:4] == ["precision", "recall", "density", "coverage"]
    assert {name: last["metrics"][name] for name in here} == pytest.approx(here, rel=1e-9, abs=1e-12)


def test_a_small_evaluation_starts_no_cluster(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://192.0.2.1:8786")  # unreachable: starting a cluster would fail
    runner = DaskMetrics(workers=2, min_rows=1_000)
    jobs = {"one": lambda: {"a": 1.0}, "two": lambda: {"b": 2.0}}
    assert runner(jobs, 999) == {"one": {"a": 1.0}, "two": {"b": 2.0}}
    assert runner.uses_dask(1_000) and not runner.uses_dask(0)
