"""Crawl screening on a real two-worker local Dask cluster (prefect-dask) gives the verdicts of screening
the crawl whole in one process, written as files (verdicts and quarantine) only once the crawl is through."""

import json
from pathlib import Path

import pandas as pd
import pytest

from collapse_guard.errors import DataError
from collapse_guard.flows.crawl_screening import on_dask, output_paths
from collapse_guard.tasks.cluster import SCHEDULER_ENV, DaskHashing, dask_runner
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
