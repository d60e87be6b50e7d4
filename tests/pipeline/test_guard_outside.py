"""A pipeline collapse-guard did not build: `check` gates its mixture as the flow gates its own, `record-model`
records the model it trained. One initialised workspace for the module (real GX, MLflow, DVC and signatures);
the anchor is read only, so every case also checks it is byte-identical afterwards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from collapse_guard import Guard
from collapse_guard.cli import app
from collapse_guard.errors import GateBlocked, MixtureNotGated
from collapse_guard.records import ledger
from collapse_guard.records.anchor import ids_digest
from collapse_guard.records.provenance import feature_columns
from collapse_guard.tabular.default_data import sample_default
from tests.conftest import REPO, sha256_of, write_params
from tests.ledger_kinds import assert_documented

pytestmark = pytest.mark.e2e
ANCHOR = Path("data/anchor/real.parquet")


def cli(workspace: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--params", str(workspace / "params.yaml")], catch_exceptions=False)


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """An initialised workspace, and a good mixture as a team would build it: the anchor's training split and
    synthetic records of their own model, stamped through the API."""
    workspace = tmp_path_factory.mktemp("guard") / "ws"
    workspace.mkdir()
    write_params(workspace)
    assert cli(workspace, "init").exit_code == 0
    guard = Guard.from_params(workspace / "params.yaml")
    synthetic = guard.stamp(
        sample_default(150, 0.025, np.random.default_rng(5)), source="synthetic", generation=1, model_id="team-m1"
    )
    pd.concat([guard.anchor(), synthetic], ignore_index=True).to_parquet(workspace / "good.parquet", index=False)
    return workspace


def good(ws: Path) -> pd.DataFrame:
    return pd.read_parquet(ws / "good.parquet")


def last_entry(ws: Path) -> dict:
    return ledger.read(ws / "ledger/ledger.jsonl")[-1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def checked(ws: Path) -> tuple[dict, dict, str]:
    """`check --json` of the good mixture: (what it said, its ledger entry, the anchor's digest before)."""
    anchor_before = sha256_of(ws / ANCHOR)
    result = cli(ws, "check", str(ws / "good.parquet"), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), last_entry(ws), anchor_before


def test_check_passes_a_good_mixture_and_records_the_verdict_the_file_and_the_suites(ws: Path, checked):
    said, entry, anchor_before = checked
    assert entry["kind"] == "mixture_checked" and entry["body"]["verdict"] == "passed" == said["verdict"]
    assert entry["body"]["mixture"]["sha256"] == sha256(ws / "good.parquet") == said["mixture"]["sha256"]
    assert entry["body"]["mixture"]["synthetic"] == 150 and entry["body"]["by"] == "check"
    suites = entry["body"]["applied"]["suites"]
    assert set(suites) == {"anchor", "inclusion", "mixture", "provenance", "types"}
    assert all(suites[name] == sha256(REPO / "expectations" / f"{name}.json") for name in suites)
    assert entry["body"]["applied"]["parameters"]["min_anchor_share"] == 1.0  # accumulate keeps the anchor
    from mlflow import MlflowClient

    run = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}").get_run(said["mlflow_run_id"])
    assert run.data.tags["gate"] == "passed" and run.data.params["mixture_sha256"] == said["mixture"]["sha256"]
    assert (ws / said["gate_json"]).is_file() and (ws / said["gate_html"]).is_file()
    assert sha256_of(ws / ANCHOR) == anchor_before


def laundered(frame: pd.DataFrame) -> pd.DataFrame:
    """A synthetic record relabelled real (its generation too, so only the binding to the anchor can tell)."""
    row = frame.index[frame["source"] == "synthetic"][3]
    frame.loc[row, ["source", "generation", "model_id"]] = ["real", 0, ""]
    return frame


def below_floor(frame: pd.DataFrame) -> pd.DataFrame:
    """Ten times more synthetic records: the real fraction falls under gate.min_real_fraction (0.25)."""
    more = Guard.from_params(Path(frame.attrs["ws"]) / "params.yaml").stamp(
        sample_default(1500, 0.025, np.random.default_rng(9)), source="synthetic", generation=1, model_id="team-m1"
    )
    return pd.concat([frame, more], ignore_index=True)


BLOCKED = {
    "laundered": (laundered, "records labelled real are in the signed anchor (data/anchor/real.parquet): 1 of"),
    "below the floor": (below_floor, "is below the floor 0.25 (gate.min_real_fraction)"),
    "missing provenance": (
        lambda f: f.drop(columns="model_id"),
        "the provenance column 'model_id' is missing from the mixture",
    ),
    "anchor records missing": (
        lambda f: f.drop(index=[0, 5, 9]),
        "anchor records missing from the mixture: 3 of",
    ),
}


@pytest.mark.parametrize("case", list(BLOCKED))
def test_check_blocks_each_bad_mixture_with_exit_4_its_reason_and_the_anchor_untouched(ws: Path, case: str):
    change, sentence = BLOCKED[case]
    frame = good(ws)
    frame.attrs["ws"] = str(ws)
    path = ws / f"bad-{case.replace(' ', '-')}.parquet"
    change(frame).to_parquet(path, index=False)
    anchor_before = sha256_of(ws / ANCHOR)
    result = cli(ws, "check", str(path))
    assert result.exit_code == GateBlocked.exit_code, result.output
    assert sentence in " ".join(result.output.split())
    entry = last_entry(ws)
    assert entry["kind"] == "mixture_checked" and entry["body"]["verdict"] == "blocked"
    assert entry["body"]["mixture"]["sha256"] == sha256(path)
    assert any(sentence in failure for failure in entry["body"]["failures"])
    assert sha256_of(ws / ANCHOR) == anchor_before


def test_a_teams_column_names_csv_and_a_folder_of_parts_are_read_as_the_same_records(ws: Path):
    frame = good(ws).rename(columns={"record_id": "id", "source": "kind"})
    folder = ws / "their-mixture"
    folder.mkdir()
    frame.iloc[:300].to_csv(folder / "part-0.csv", index=False)
    frame.iloc[300:].to_csv(folder / "part-1.csv", index=False)
    (folder / "_SUCCESS").write_text("")
    result = cli(ws, "check", str(folder), "--map", "id=record_id", "--map", "kind=source", "--json")
    assert result.exit_code == 0, result.output
    mixture = json.loads(result.stdout)["mixture"]
    assert mixture["parts"] == ["part-0.csv", "part-1.csv"] and mixture["columns_mapped"] == {
        "id": "record_id",
        "kind": "source",
    }
    assert mixture["digest"] == ids_digest(good(ws)["record_id"])  # the same records, whatever the format
    unmapped = cli(ws, "check", str(folder))
    assert unmapped.exit_code == GateBlocked.exit_code
    assert "the provenance column 'record_id' is missing from the mixture" in " ".join(unmapped.output.split())
    wrong = cli(ws, "check", str(folder), "--map", "id=recordid")
    assert wrong.exit_code == 2 and "names no provenance column" in " ".join(wrong.output.split())


@pytest.fixture(scope="module")
def blocked_by_api(ws: Path) -> GateBlocked:
    with pytest.raises(GateBlocked) as blocked:
        Guard.from_params(ws / "params.yaml").check(good(ws).drop(index=[0, 5, 9]))
    return blocked.value


def test_the_api_gates_a_frame_as_the_command_does(ws: Path, blocked_by_api: GateBlocked):
    guard = Guard.from_params(ws / "params.yaml")
    anchor_before = sha256_of(ws / ANCHOR)
    result = guard.check(good(ws))
    assert result.passed and result.sha256 == "" and result.digest == result.records_digest
    assert last_entry(ws)["seq"] == result.ledger_line and last_entry(ws)["body"]["by"] == "api"
    assert any("anchor records missing from the mixture: 3 of" in f for f in blocked_by_api.failures)
    assert blocked_by_api.exit_code == 4 and blocked_by_api.details["verdict"] == "blocked"
    assert sha256_of(ws / ANCHOR) == anchor_before
    with pytest.raises(MixtureNotGated, match="no check of it is in the ledger"):
        guard.record_model(ws / "good.parquet", mixture="ab" * 32)


def test_a_model_trained_elsewhere_is_refused_for_an_ungated_mixture_and_recorded_for_a_passed_one(
    ws: Path, checked, blocked_by_api: GateBlocked
):
    from collapse_guard.tabular.gmm import GaussianMixtureGenerator

    mixture = good(ws)
    model = GaussianMixtureGenerator(components=4, epochs=30)
    model.fit(mixture[feature_columns(mixture)], seed=1)  # the team's training job, on the mixture that passed
    model.save(ws / "team-model.pt")

    refused = cli(ws, "record-model", "--mixture", "cd" * 32, "--model", str(ws / "team-model.pt"))
    assert refused.exit_code == MixtureNotGated.exit_code and "never passed the gate" in refused.output
    blocked_digest = blocked_by_api.details["mixture"]["digest"]
    refused = cli(ws, "record-model", "--mixture", blocked_digest, "--model", str(ws / "team-model.pt"))
    assert refused.exit_code == 14 and "blocked" in " ".join(refused.output.split())

    (ws / "not-a-model.pt").write_bytes(b"not a model")
    entries = len(ledger.read(ws / "ledger/ledger.jsonl"))
    unreadable = cli(ws, "record-model", "--mixture", str(ws / "good.parquet"), "--model", str(ws / "not-a-model.pt"))
    assert unreadable.exit_code == 3 and not (ws / "generations" / "gen_000").exists(), unreadable.output
    assert not list((ws / "generations").glob(".staging/*")) and len(ledger.read(ws / "ledger/ledger.jsonl")) == entries

    result = cli(
        ws, "record-model", "--mixture", str(ws / "good.parquet"), "--model", str(ws / "team-model.pt"), "--json"
    )
    assert result.exit_code == 0, result.output
    recorded = json.loads(result.stdout)
    assert recorded["generation"] == 0 and recorded["evaluated"] and recorded["signed"]
    assert recorded["model_sha256"] == sha256(ws / "team-model.pt") == sha256(ws / recorded["model_path"])
    assert 0 < recorded["metrics"]["tail_coverage"] <= 1 and recorded["version"] == "1"

    shown = cli(ws, "audit", "show", "--json")
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert record["gate_kind"] == "mixture_checked" and record["gate"]["verdict"] == "passed"
    assert record["lineage"][0]["model_id"] == recorded["model_id"] and record["lineage"][0]["trained"] == "elsewhere"
    text = cli(ws, "audit", "show").output
    assert "trained outside collapse-guard" in text and recorded["model_id"] in text

    page = ws / "reports" / "audit.html"
    assert cli(ws, "audit", "report").exit_code == 0
    html = page.read_text()
    assert recorded["model_id"] in html and "trained outside collapse-guard, recorded by record-model" in html

    bundle = ws.parent / "bundle"
    assert cli(ws, "audit", "export", str(bundle)).exit_code == 0
    statement = json.loads((bundle / "generations" / "gen_000" / "provenance.json").read_text())
    assert recorded["model_id"] in json.dumps(statement) and recorded["model_sha256"] in json.dumps(statement)
    trusted = str(ws / ".collapse-guard" / "signing.pub")
    verified = CliRunner().invoke(app, ["audit", "verify", "--bundle", str(bundle), "--public-key", trusted])
    assert verified.exit_code == 0, verified.output
    assert {"mixture_checked", "generation_recorded"} <= assert_documented(ws / "ledger/ledger.jsonl")


def test_a_guarded_run_after_a_recorded_model_mixes_only_the_batches_it_made(tmp_path: Path):
    from collapse_guard.modality.registry import load_params
    from collapse_guard.records.workspace import synthetic_batches

    params = load_params(write_params(tmp_path))
    for generation, trained in ((0, None), (1, None), (2, "elsewhere"), (3, None)):
        ledger.append(params.ledger_path, "generation_recorded", {"generation": generation, "trained": trained})
    assert [p.parent.name for p in synthetic_batches(params, 4)] == ["gen_001", "gen_003"]
