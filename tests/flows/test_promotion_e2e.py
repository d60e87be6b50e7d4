"""Each trained model is registered in the MLflow Model Registry; `champion` follows the promotion check, and
`promote`/`rollback` move it by hand, every move in the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.modality.registry import load_params
from collapse_guard.pipeline.promotion import decide
from collapse_guard.records import ledger
from collapse_guard.records.tracking import client
from tests.conftest import write_params
from tests.ledger_kinds import assert_documented

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def cli(params: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--params", str(params)], catch_exceptions=False)


def test_models_are_registered_and_champion_follows_the_check_and_the_hand(workspace: Path, monkeypatch):
    # zero tolerance: a generation becomes champion only if it is at least as good on every signal
    params_file = write_params(workspace, promotion={"tail_drop": 0, "spread_drift": 0, "loss_rise": 0})
    result = cli(params_file, "run", "-n", "2", "--json")
    assert result.exit_code == 0, result.output
    params = load_params(params_file)
    mlflow = client(params.tracking_uri)
    versions = sorted(mlflow.search_model_versions("name = 'collapse-guard'"), key=lambda v: int(v.version))
    assert [v.tags["generation"] for v in versions] == ["0", "1", "2"]

    entries = ledger.read(params.ledger_path)
    recorded = {e["body"]["generation"]: e["body"] for e in entries if e["kind"] == "generation_recorded"}
    decisions = [e["body"] for e in entries if e["kind"] in ("model_promoted", "promotion_refused")]
    champion_generation = None
    for body in decisions:  # replay the check from the ledger's metrics: the same decisions
        champion = recorded[champion_generation]["metrics"] if champion_generation is not None else None
        expected = decide(
            recorded[body["generation"]]["metrics"],
            champion,
            tail="tail_coverage",
            spread="variance_ratio",
            settings=params.promotion,
            expectations_dir=params.resolve(params.paths.expectations_dir),
            modality="tabular",
            model_file=f"generations/gen_{body['generation']:03d}/model.pt",
        )
        assert body["role"] == expected.role and body["reasons"] == expected.reasons
        assert versions[body["generation"]].tags["role"] == expected.role
        if expected.promote:
            champion_generation = body["generation"]
    alias = mlflow.get_model_version_by_alias("collapse-guard", "champion")
    assert alias.tags["generation"] == str(champion_generation)
    # the registered version is an MLflow model: the champion loads by alias and samples, offline
    from mlflow.pyfunc import load_model

    monkeypatch.setenv("MLFLOW_TRACKING_URI", params.tracking_uri)  # not set_tracking_uri: it outlives the test
    served = load_model("models:/collapse-guard@champion")
    assert len(served.predict(pd.DataFrame({"n": [20]}))) == 20
    generation_run = mlflow.get_run(recorded[2]["mlflow_run_id"])
    assert generation_run.data.tags["promotion"] in ("champion", "candidate")
    inputs = generation_run.inputs.dataset_inputs
    assert inputs[0].dataset.digest == recorded[2]["dvc_md5"][:36] and inputs[0].dataset.name == "mixture-gen002"

    # by hand: two promotions, then each rollback goes one champion further back through the ledger's history
    first, second = [g for g in (0, 1, 2) if g != champion_generation]
    moved = json.loads(cli(params_file, "promote", "-g", str(first), "--reason", "canary", "--json").stdout)
    assert moved["version"] == str(versions[first].version) and moved["generation_before"] == champion_generation
    assert str(mlflow.get_model_version_by_alias("collapse-guard", "champion").version) == moved["version"]
    cli(params_file, "promote", "-g", str(second))
    said = cli(params_file, "rollback")
    assert said.exit_code == 0 and said.stdout.startswith(
        f"rollback: the champion of collapse-guard is now version {versions[first].version} (generation {first}); "
        f"it was version {versions[second].version} (generation {second})"
    )
    back = json.loads(cli(params_file, "rollback", "--json").stdout)
    assert back["generation"] == champion_generation and back["generation_before"] == first
    alias = mlflow.get_model_version_by_alias("collapse-guard", "champion")
    assert alias.tags["generation"] == str(champion_generation)
    moves = [e["body"] for e in ledger.read(params.ledger_path) if e["kind"] == "champion_moved"]
    assert [m["by"] for m in moves] == ["promote", "promote", "rollback", "rollback"] and moves[0]["reason"] == "canary"
    # what makes no sense is refused with a named cause, and nothing is recorded
    lines = len(ledger.read(params.ledger_path))
    assert cli(params_file, "promote", "-g", "9").exit_code == 3  # never recorded
    refused = cli(params_file, "promote", "-g", str(champion_generation), "--json")
    assert refused.exit_code == 2 and "is already the champion" in json.loads(refused.stdout)["error"]["message"]
    refused = cli(params_file, "rollback", "--to", str(second), "--json")  # rolled back past: no longer earlier
    assert refused.exit_code == 2 and "earlier champion" in json.loads(refused.stdout)["error"]["message"]
    assert len(ledger.read(params.ledger_path)) == lines
    assert "champion_moved" in assert_documented(params.ledger_path)
