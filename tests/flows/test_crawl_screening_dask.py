"""Crawl screening on a real two-worker local Dask cluster (prefect-dask) gives the verdicts of screening
the crawl whole in one process."""

import json
from pathlib import Path

import pytest

from collapse_guard.flows.crawl_screening import SCHEDULER_ENV, dask_runner, on_dask
from collapse_guard.text.corpus import default_corpus
from collapse_guard.text.dedup import AnchorIndex, find_duplicates


@pytest.mark.usefixtures("prefect_server")
def test_two_dask_workers_screen_a_crawl_as_one_process_would(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    texts = default_corpus()["text"].tolist()[:90]
    crawl = texts[40:90] + [t.replace(" the ", " a ", 1) for t in texts[30:60]] + texts[45:50]
    path = tmp_path / "crawl.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in crawl))
    anchor = AnchorIndex(texts[:40])
    verdicts = on_dask(workers=2)(path, anchor, batch_documents=16)
    whole = find_duplicates(crawl, anchor)
    assert verdicts["line"].tolist() == list(range(1, len(crawl) + 1))
    assert whole["drop"].sum() >= 30 and (verdicts["reason"] == whole["reason"]).all()


def test_an_existing_cluster_is_used_when_its_address_is_set(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://10.0.0.5:8786")
    assert dask_runner(2).address == "tcp://10.0.0.5:8786"
