"""Text end to end through the CLI, in-process: real Prefect, DVC, GX, Evidently, MLflow and torch, tiny sizes."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.config import DecodingParams
from collapse_guard.records.anchor import load as load_anchor
from collapse_guard.text.watermark import WatermarkConfig, read_key_file
from tests.conftest import REPO, TINY_TEXT, resign_as_insider, sha256_of, write_params
from tests.dvc_views import assert_dvc_shows_metrics_and_plots
from tests.metric_names import disagreements, recorded_numbers, uncatalogued

ANCHOR = Path("data/anchor/text.parquet")
KEY_FILE = Path(".collapse-guard/watermark.key")


def cli(workspace: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--params", str(workspace / "params.yaml")], catch_exceptions=False)


@pytest.fixture
def text_workspace(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("COLLAPSE_GUARD_WATERMARK_KEY", raising=False)
    workspace = tmp_path / "text-ws"
    workspace.mkdir()
    write_params(workspace, "examples/text/params.yaml", TINY_TEXT)
    return workspace


@pytest.mark.e2e
@pytest.mark.usefixtures("prefect_server")
def test_two_text_generations_end_to_end(text_workspace: Path):
    result = cli(text_workspace, "run", "--generations", "2", "--json")
    assert result.exit_code == 0, result.output
    generations = json.loads(result.stdout)["generations"]
    assert [g["generation"] for g in generations] == [0, 1, 2]
    key = read_key_file(text_workspace / KEY_FILE)
    for g in generations:
        assert g["status"] == "recorded" and g["gate"]["passed"]
        metrics = g["metrics"]
        for name in ("rare_token_mass_retention", "rare_token_count_retention", "distinct_2", "unigram_entropy"):
            assert metrics[name] >= 0
        assert metrics["heldout_perplexity"] > 1 and 0 <= metrics["drift_share"] <= 1
        assert (text_workspace / g["drift_report"]).read_text().strip().lower().startswith("<!doctype html")
    for g in generations[1:]:
        counts = g["counts"]
        assert counts["kept"] + sum(v for k, v in counts.items() if k.startswith("dropped_")) == counts["generated"]

    synthetic = pd.read_parquet(text_workspace / "generations-text/gen_001/synthetic.parquet")
    assert (synthetic["watermark_key_id"] == key.key_id).all() and (synthetic["source"] == "synthetic").all()
    decoding = json.loads(synthetic["decoding"].iloc[0])
    assert decoding["no_copy_ngram"] == 4
    assert decoding["watermark"] == {"gamma": 0.25, "delta": 2.0, "scheme": "lefthash-h1"}
    assert decoding["temperature"] == 1.0

    # the key id is recorded, the key never is
    secret = key.secret.decode()
    db = sqlite3.connect(text_workspace / "mlflow.db")
    logged = db.execute("select value from params where key = 'watermark_key_id'").fetchall()
    assert {row[0] for row in logged} == {key.key_id}
    dump = "\n".join(str(row) for table in ("params", "tags") for row in db.execute(f"select * from {table}"))
    assert secret not in dump
    assert secret not in (text_workspace / "ledger/text.jsonl").read_text()
    assert f"/{KEY_FILE}" in (text_workspace / ".gitignore").read_text().splitlines()
    assert cli(text_workspace, "audit", "verify").exit_code == 0
    shutil.copyfile(REPO / "examples/text/dvc.yaml", text_workspace / "dvc.yaml")  # the text workspace's own
    assert_dvc_shows_metrics_and_plots(text_workspace, "rare_token_mass_retention")
    shown = cli(text_workspace, "audit", "show")
    assert shown.exit_code == 0 and "generation 2" in shown.stdout and "rare-word ret" in shown.stdout

    # one name, one number across the summary, MLflow, the ledger and the Evidently report's JSON
    numbers = recorded_numbers(
        text_workspace,
        generations[1],
        text_workspace / "ledger/text.jsonl",
        text_workspace / "generations-text/gen_001/drift.json",
    )
    assert disagreements(numbers) == {}
    from collapse_guard.text.modality import TextModality

    assert uncatalogued(numbers, TextModality.metric_catalog) == set()  # every metric is in the docs' reference
    assert set(numbers["ledger"]) - {"real_fraction", "anchor_rows"} <= set(numbers["evidently"])
    assert {"rare_token_mass_retention", "rare_token_mass_retention_anchor_halves"} <= set(numbers["mlflow"])

    # synthetic text that lost its watermark label is blocked before training, and the anchor is untouched
    pool = text_workspace / "generations-text/gen_001/synthetic.parquet"
    synthetic.assign(watermark_key_id="").to_parquet(pool)
    resign_as_insider(pool)  # unsigned, the signature stops it first (exit 3): test the gate behind it
    anchor_before = sha256_of(text_workspace / ANCHOR)
    blocked = cli(text_workspace, "run", "--generations", "1", "--json")
    assert blocked.exit_code == 4
    error = json.loads(blocked.stdout)["error"]
    assert error["type"] == "GateBlocked"
    failures = json.loads(blocked.stdout)["generations"][-1]["gate"]["failures"]
    assert any(
        "[text]" in f and "name no watermark key" in f and str(pool.relative_to(text_workspace)) in f for f in failures
    )
    assert sha256_of(text_workspace / ANCHOR) == anchor_before
    assert not (text_workspace / "generations-text/gen_003/model.pt").exists()


def _watermarked_document(tiny_lm, key_file: Path, tmp_path: Path) -> str:
    """A document written by a model that watermarks with the workspace's key (as a leaked generation)."""
    from collapse_guard.text.lm import TextLanguageModel

    tiny_lm.save(tmp_path / "lm.pt")
    model = TextLanguageModel.load(tmp_path / "lm.pt")
    model.set_watermark(WatermarkConfig(read_key_file(key_file), 0.25, 2.0))
    return model.sample(1, DecodingParams(), seed=11)["text"].iloc[0]


def test_ingest_appends_clean_crawl_text_and_quarantines_the_rest(text_workspace: Path, tiny_lm, corpus, tmp_path):
    assert cli(text_workspace, "init").exit_code == 0
    anchor_before = load_anchor(text_workspace / ANCHOR)
    planted = _watermarked_document(tiny_lm, text_workspace / KEY_FILE, tmp_path)
    fresh = corpus["text"].iloc[400:405].tolist()  # real paragraphs the tiny anchor (160 documents) lacks
    copied = anchor_before["text"].iloc[10]
    crawl = tmp_path / "crawl.jsonl"
    crawl.write_text("\n".join(json.dumps({"text": t}) for t in [fresh[0], planted, *fresh[1:], copied]) + "\n")

    detection = json.loads(cli(text_workspace, "detect", str(crawl), "--json").stdout)["documents"]
    assert [d["detected"] for d in detection] == [False, True, False, False, False, False, False]
    assert detection[1]["z"] > 4 and detection[1]["p_value"] < 1e-4 and detection[1]["green"] <= detection[1]["scored"]
    # every row shows the evidence of the test that decided it, clean ones too, and the corrected bound
    assert all(d["scored"] > 0 and d["key_id"] and d["scheme"] and d["tests"] >= 1 for d in detection)
    assert detection[1]["fpr_bound"] <= 1e-4 < min(d["fpr_bound"] for d in detection if not d["detected"])
    table = cli(text_workspace, "detect", str(crawl))  # what a person reads: one verdict per document
    assert table.exit_code == 0, table.output
    assert table.stdout.count("marked") - table.stdout.count("unmarked") >= 1 and "clean" in table.stdout

    result = cli(text_workspace, "ingest", str(crawl), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    quarantine = pd.read_json(text_workspace / summary["quarantine"], lines=True)
    by_line = quarantine.set_index("line")
    assert by_line.loc[2, "reason"] == "watermarked" and by_line.loc[2, "z"] > 4
    assert by_line.loc[2, "text"] == planted
    assert by_line.loc[7, "reason"] == "exact_duplicate"

    anchor_after = load_anchor(text_workspace / ANCHOR)
    assert summary["added"] == len(anchor_after) - len(anchor_before) == 7 - len(quarantine)
    assert summary["added"] >= 4
    assert anchor_after.iloc[: len(anchor_before)].equals(anchor_before)  # appended, nothing changed
    added = anchor_after.iloc[len(anchor_before) :]
    assert planted not in set(added["text"]) and (added["source"] == "real").all()
    assert added["origin"].str.startswith(str(crawl)).all()
    assert cli(text_workspace, "audit", "verify").exit_code == 0
    index = text_workspace / ANCHOR.parent / "text.index.npz"  # grown with the anchor, versioned beside it
    assert (text_workspace / ANCHOR.parent / "text.index.npz.dvc").exists()
    with np.load(index) as stored:
        assert json.loads(str(stored["meta"]))["rows"] == len(anchor_after) == len(stored["exact"])

    # the same crawl again is refused before it is screened, and nothing is written
    ledger_before = sha256_of(text_workspace / "ledger/text.jsonl")
    again = cli(text_workspace, "ingest", str(crawl), "--json")
    assert again.exit_code == 13 and json.loads(again.stdout)["error"]["type"] == "AlreadyIngested"
    assert load_anchor(text_workspace / ANCHOR).equals(anchor_after)
    assert sha256_of(text_workspace / "ledger/text.jsonl") == ledger_before
    # a folder of .txt documents is one source: its names and bytes make its digest
    folder = tmp_path / "pages"
    folder.mkdir()
    for number, text in enumerate(corpus["text"].iloc[410:412]):
        (folder / f"page{number}.txt").write_text(text)
    assert cli(text_workspace, "ingest", str(folder)).exit_code == 0
    assert cli(text_workspace, "ingest", str(folder)).exit_code == 13
    (folder / "page1.txt").write_text(corpus["text"].iloc[413])  # one document changed: new bytes
    assert cli(text_workspace, "ingest", str(folder)).exit_code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a fine first document"}\n{"text": "fine"}\n{"text": "broken\n', "line 3: not valid JSON"),
        ('{"text": "a fine first document"}\n{"text": "   "}\n', "line 2: empty text"),
        (b'{"text": "caf\xe9"}\n', "line 1: not UTF-8"),
    ],
)
def test_a_malformed_crawl_is_rejected_whole_and_touches_nothing(text_workspace: Path, tmp_path, content, message):
    assert cli(text_workspace, "init").exit_code == 0
    before = sha256_of(text_workspace / ANCHOR)
    crawl = tmp_path / "crawl.jsonl"
    crawl.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = cli(text_workspace, "ingest", str(crawl), "--json")
    assert result.exit_code == 3
    error = json.loads(result.stdout)["error"]
    assert message in error["message"] and "crawl.jsonl" in error["message"]
    assert sha256_of(text_workspace / ANCHOR) == before
    assert not (text_workspace / "data/quarantine").exists()
