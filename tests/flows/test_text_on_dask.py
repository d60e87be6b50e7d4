"""Text's per-document work on a real two-worker local Dask cluster (prefect-dask, through
DASK_SCHEDULER_ADDRESS) decides exactly what one process decides: a generation's curation keeps and drops
the same synthetic documents, and an ingest quarantines and appends the same crawl documents."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.generator import load_generator
from collapse_guard.modality.registry import load_params, modality_for
from collapse_guard.pipeline import step
from collapse_guard.pipeline.step import SeedSchedule
from collapse_guard.records import ledger
from collapse_guard.records.anchor import load as load_anchor
from collapse_guard.records.anchor import load_split
from collapse_guard.tasks.cluster import SCHEDULER_ENV
from collapse_guard.tasks.text_screening import DaskHashing
from collapse_guard.text.corpus import default_corpus
from collapse_guard.text.dedup import DedupSettings
from collapse_guard.text.screening import hash_batches_here
from tests.conftest import TINY_TEXT, sha256_of, write_params


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes, as ``text.dedup.dask_workers: 2`` would start."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as local, Client(local) as client:
        yield local, client


def _hash_batches_run(client) -> int:
    """How many ``hash-batch`` tasks the cluster has finished (each reaches the "memory" state once;
    prefect-dask keys them by task name)."""

    def count(dask_scheduler) -> int:
        return sum(p.state_counts["memory"] for n, p in dask_scheduler.task_prefixes.items() if "hash" in n)

    return client.run_on_scheduler(count)


@pytest.mark.e2e
@pytest.mark.usefixtures("prefect_server")
def test_a_generation_curated_on_two_dask_workers_keeps_what_one_process_keeps(tmp_path: Path, cluster, monkeypatch):
    local, client = cluster
    monkeypatch.delenv("COLLAPSE_GUARD_WATERMARK_KEY", raising=False)
    monkeypatch.setenv(SCHEDULER_ENV, local.scheduler_address)
    workspace = tmp_path / "text-ws"
    workspace.mkdir()
    # 150 samples, not TINY_TEXT's 60: the workspace's watermark key is random, so what the model writes (and
    # so whether 60 samples hold one that fails the watermark check, ~5 % each) changes from run to run: 60 once
    # dropped nothing (a 1-in-20 chance), 150 leave it ~1 in 2,000
    write_params(
        workspace,
        "examples/text/params.yaml",
        TINY_TEXT,
        text={"dedup": {"dask_min_documents": 0}},
        generation={"synthetic_per_generation": 150},
    )
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


def _cli(workspace: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--params", str(workspace / "params.yaml")], catch_exceptions=False)


def _text_workspace(tmp_path: Path, monkeypatch, dedup: dict):
    """A tiny initialised text workspace whose crawls are read and screened with ``dedup``'s settings."""
    monkeypatch.delenv("COLLAPSE_GUARD_WATERMARK_KEY", raising=False)
    workspace = tmp_path / "text-ws"
    workspace.mkdir()
    write_params(workspace, "examples/text/params.yaml", TINY_TEXT, text={"dedup": dedup})
    assert _cli(workspace, "init").exit_code == 0
    return workspace, load_params(workspace / "params.yaml")


@pytest.mark.e2e
@pytest.mark.usefixtures("prefect_server")
def test_an_ingest_past_the_threshold_screens_the_rest_of_the_crawl_on_dask(tmp_path: Path, cluster, monkeypatch):
    local, client = cluster
    # batches of 16 documents: the first two hashed here, the other three on the cluster
    workspace, params = _text_workspace(tmp_path, monkeypatch, {"batch_documents": 16, "dask_min_documents": 32})
    anchor_before = load_anchor(params.anchor_path)
    texts = default_corpus()["text"].tolist()
    fresh = texts[400:440]
    crawl = [*fresh, *anchor_before["text"].iloc[:10], *[t.replace(" the ", " a ", 1) for t in fresh[:20]]]
    path = tmp_path / "crawl.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in crawl))
    here = modality_for(params).incoming(path, anchor_before)  # read-only: the verdicts of one process

    monkeypatch.setenv(SCHEDULER_ENV, local.scheduler_address)
    before = _hash_batches_run(client)
    result = _cli(workspace, "ingest", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert _hash_batches_run(client) - before == 3, "the crawl past the threshold was not hashed on the cluster"
    summary = json.loads(result.stdout)
    quarantine = pd.read_json(workspace / summary["quarantine"], lines=True)
    assert len(quarantine) >= 20, "too little turned away: the comparison would prove little"
    assert quarantine["line"].tolist() == here.rejected["line"].tolist()
    assert quarantine["reason"].tolist() == here.rejected["reason"].tolist()
    added = load_anchor(params.anchor_path).iloc[len(anchor_before) :]
    assert added["text"].tolist() == here.records["text"].tolist() and summary["added"] == len(added)


def test_a_crawl_under_the_threshold_starts_no_cluster(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://192.0.2.1:8786")  # unreachable: starting a cluster would fail
    texts = default_corpus()["text"].tolist()[:50]
    batches = [pd.DataFrame({"text": texts[i : i + 10]}) for i in range(0, 50, 10)]
    hashing = DaskHashing(workers=2, min_documents=51, batch_documents=10)
    settings = DedupSettings()
    streamed = list(hashing.stream(batches, settings, None))
    expected = list(hash_batches_here(batches, settings, None))
    assert [batch["text"].tolist() for batch, _ in streamed] == [batch["text"].tolist() for batch in batches]
    for (_, (hashes, marks)), (_, (want, want_marks)) in zip(streamed, expected, strict=True):
        assert (hashes.exact == want.exact).all() and (hashes.signatures == want.signatures).all()
        pd.testing.assert_frame_equal(marks, want_marks)


@pytest.mark.usefixtures("prefect_server")
def test_tasks_go_to_dask_with_their_run_but_without_its_parameters():
    """What prefect-dask ships with each task (serialize_context): the flow run, not its arguments (a crawl's
    whole anchor index); the flow's own context is left as it was."""
    from prefect import flow
    from prefect.context import FlowRunContext, serialize_context

    from collapse_guard.tasks.cluster import runs_without_parameters

    @flow
    def screening(anchor: list[int]) -> tuple[dict, dict, dict]:
        with runs_without_parameters():
            shipped = serialize_context()["flow_run_context"]
        return shipped, FlowRunContext.get().parameters, {"id": FlowRunContext.get().flow_run.id}

    shipped, after, run = screening(list(range(1000)))
    assert shipped["parameters"] == {} and shipped["flow_run"]["id"] == run["id"]
    assert after == {"anchor": list(range(1000))}


@pytest.mark.usefixtures("prefect_server")
def test_a_task_on_a_dask_worker_runs_under_its_flow_run_without_the_runs_arguments(cluster, monkeypatch):
    """Submitted from inside a task of a flow (prefect-dask on a real cluster): the worker runs the task under
    the flow run, whose parameters it does not get; the submitting task's run is shipped without its
    parameters too, and its own context is left as it was. It fails if prefect-dask ships the run contexts
    some other way than the one runs_without_parameters empties."""
    from prefect import flow, task
    from prefect.context import FlowRunContext, TaskRunContext, serialize_context

    from collapse_guard.tasks.cluster import runs_without_parameters, started

    local, _ = cluster
    monkeypatch.setenv(SCHEDULER_ENV, local.scheduler_address)

    @task
    def on_the_worker() -> dict:
        flow_run = FlowRunContext.get()
        return {"flow_run": flow_run.flow_run.id, "parameters": flow_run.parameters}

    @task
    def submitting(anchor: list[int]) -> tuple[dict, dict, dict]:
        with started(1) as runner, runs_without_parameters():
            shipped = serialize_context()["task_run_context"]["parameters"]
            seen = runner.submit(on_the_worker, {}).result()
        return seen, shipped, TaskRunContext.get().parameters

    @flow
    def screening(anchor: list[int]) -> tuple[dict, dict, dict, object]:
        return (*submitting(anchor), FlowRunContext.get().flow_run.id)

    seen, shipped, after, flow_run = screening(list(range(1000)))
    assert seen == {"flow_run": flow_run, "parameters": {}} and shipped == {}
    assert after == {"anchor": list(range(1000))}


@pytest.mark.e2e
@pytest.mark.usefixtures("prefect_server")
def test_a_malformed_line_past_the_threshold_stops_an_ingest_on_dask_with_the_anchor_untouched(
    tmp_path: Path, cluster, monkeypatch
):
    local, client = cluster
    workspace, params = _text_workspace(tmp_path, monkeypatch, {"batch_documents": 16, "dask_min_documents": 16})
    anchor_before = sha256_of(params.anchor_path)
    path = tmp_path / "crawl.jsonl"
    lines = [json.dumps({"text": t}) for t in default_corpus()["text"].tolist()[400:480]]
    # line 71, in the fifth batch: the first is hashed here, the second is back from the cluster by then
    path.write_text("\n".join([*lines[:70], "{not json", *lines[70:]]) + "\n")

    monkeypatch.setenv(SCHEDULER_ENV, local.scheduler_address)
    before = _hash_batches_run(client)
    result = _cli(workspace, "ingest", str(path), "--json")
    assert result.exit_code == 3, result.output
    assert "line 71" in json.loads(result.stdout)["error"]["message"]
    assert _hash_batches_run(client) - before >= 1, "no batch past the threshold was hashed on the cluster"
    assert sha256_of(params.anchor_path) == anchor_before
    assert not (workspace / "data/quarantine").exists()
