"""`experiment --safe-zone` certifies r* in the ledger and MLflow; `gate.min_real_fraction: auto` then uses it,
names it in every gate verdict, and refuses without it or once the anchor changed. Through the CLI, in-process,
with real Prefect flow runs, GX, MLflow and DVC; a Gaussian model keeps the chains fast."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.errors import ConfigError
from collapse_guard.theory import gaussian_data
from tests.conftest import sha256_of, write_params

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def cli(workspace: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--params", str(workspace / "params.yaml")], catch_exceptions=False)


def entries(workspace: Path, kind: str) -> list[dict]:
    lines = (workspace / "ledger/ledger.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("safe-zone")
    gaussian_data(600, 3, 1.0, np.random.default_rng(0)).to_parquet(ws / "real.parquet", index=False)
    write_params(
        ws,
        data={"source": "real.parquet"},
        model={"class": "collapse_guard.theory:GaussianGenerator", "options": {"estimator": "mle"}},
        decoding={"temperature": 0.7},  # a sampling bias: the spread collapses unless enough real data holds it
        gate={"min_real_fraction": "auto", "auto_margin": 0.05},
        experiment={"workers": 2, "safe_zone": {"generations": 3, "seeds": 3}},
        promotion={"enabled": False},
    )
    assert cli(ws, "init").exit_code == 0
    return ws


def test_auto_refuses_a_run_before_any_certificate_exists(workspace: Path):
    before = (workspace / "ledger/ledger.jsonl").read_text()
    result = cli(workspace, "run", "--json")
    assert result.exit_code == ConfigError.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert "no safe-zone certificate" in error["message"] and "params.yaml" in error["message"]
    assert not entries(workspace, "run_started") and before in (workspace / "ledger/ledger.jsonl").read_text()


def test_the_certificate_then_the_floor_every_gate_verdict_names(workspace: Path):
    result = cli(workspace, "experiment", "--safe-zone", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    r_star, line = found["r_star"], found["ledger_line"]
    assert 0.05 <= r_star <= 1 and found["interval"][0] <= r_star <= found["interval"][1]
    assert found["fits"] <= 0.2 * found["sweep_fits"]
    assert (workspace / found["figure"]).is_file() and (workspace / found["tables"]["chains"]).is_file()
    (certificate,) = entries(workspace, "safe_fraction_certified")
    body = certificate["body"]
    assert certificate["seq"] == line and body["r_star"] == r_star
    assert body["model_class"] == "collapse_guard.theory:GaussianGenerator" and body["tolerance"] == 0.1
    assert body["anchor"]["digest"] == entries(workspace, "anchor_initialised")[-1]["body"]["anchor"]["digest"]
    assert body["seeds"] and body["generations"] == 3 and body["metrics"] == ["tail_coverage", "variance_ratio"]
    db = sqlite3.connect(workspace / "mlflow.db")
    assert db.execute("select value from metrics where key='r_star'").fetchall() == [(r_star,)]

    result = cli(workspace, "run", "--generations", "1", "--json")
    assert result.exit_code in (0, 4), result.output  # 4: the certified floor blocked generation 1
    verdicts = entries(workspace, "gate_verdict")
    assert len(verdicts) == 2
    for verdict in verdicts:
        applied = verdict["body"]["applied"]
        assert applied["parameters"]["min_real_fraction"] == pytest.approx(min(1.0, r_star + 0.05))
        assert applied["sources"]["min_real_fraction"].startswith(f"safe-zone certificate (ledger line {line})")


def test_auto_refuses_once_the_anchor_grew_since_the_certificate(workspace: Path):
    gaussian_data(40, 3, 1.0, np.random.default_rng(5)).to_csv(workspace / "fresh.csv", index=False)
    assert cli(workspace, "ingest", str(workspace / "fresh.csv")).exit_code == 0
    anchor_before = sha256_of(workspace / "data/anchor/real.parquet")
    result = cli(workspace, "run", "--json")
    assert result.exit_code == 2, result.output
    message = json.loads(result.stdout)["error"]["message"]
    assert "the anchor changed since the safe-zone certificate" in message and "params.yaml" in message
    assert sha256_of(workspace / "data/anchor/real.parquet") == anchor_before
