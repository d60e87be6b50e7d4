"""Same params, same data, same seed: the same models and the same metrics, bit for bit, and the ledger says
what the run ran on (seed, library versions, thread counts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.records import ledger
from tests.conftest import sha256_of, write_params

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def run_two_generations(workspace: Path) -> dict:
    workspace.mkdir()
    params = write_params(workspace)
    result = CliRunner().invoke(app, ["run", "-n", "1", "--json", "--params", str(params)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_same_two_generations_twice_give_the_same_model_files_and_metrics(tmp_path: Path):
    import torch

    torch.set_num_threads(2)  # the process default must not matter: the model sets its own
    first = run_two_generations(tmp_path / "a")
    second = run_two_generations(tmp_path / "b")
    for generation in ("gen_000", "gen_001"):
        model = Path("generations") / generation / "model.pt"
        assert sha256_of(tmp_path / "a" / model) == sha256_of(tmp_path / "b" / model)
    assert [g["metrics"] for g in first["generations"]] == [g["metrics"] for g in second["generations"]]
    assert [g["model_id"] for g in first["generations"]] == [g["model_id"] for g in second["generations"]]
    assert torch.get_num_threads() == 2  # restored after training

    started = ledger.latest(ledger.read(tmp_path / "a" / "ledger/ledger.jsonl"), "run_started")["body"]
    runtime = started["runtime"]
    assert runtime["seed"] == 7 and runtime["model_threads"] == 1
    assert runtime["libraries"]["torch"].startswith("2.13") and runtime["python"]
