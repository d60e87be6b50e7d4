"""A real public table, end to end through the CLI: Fair's survey (repeated rows, whole-number ratings, a text
category) runs init, three guarded generations, ingest and audit verify; synthetic ratings stay whole numbers
within the real range, and the model trained on real data only shows no drift."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.records.anchor import load as load_anchor
from tests.conftest import write_params
from tests.public_tables import fair_survey

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
WHOLE = ("rate_marriage", "religious", "educ")


def cli(workspace: Path, *args: str):
    result = CliRunner().invoke(app, [*args, "--params", str(workspace / "params.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_real_survey_runs_init_three_generations_ingest_and_audit(tmp_path: Path):
    survey = fair_survey()
    first, later = survey.iloc[:900], survey.iloc[900:1000]
    assert first.duplicated().mean() > 0.05  # repeated answers are real records, not errors
    workspace = tmp_path / "ws"
    workspace.mkdir()
    first.to_csv(workspace / "survey.csv", index=False)
    write_params(workspace, data={"source": "survey.csv"})

    cli(workspace, "init")
    anchor = load_anchor(workspace / "data/anchor/real.parquet")
    assert len(anchor) == 900 and anchor["record_id"].is_unique

    generations = cli(workspace, "run", "--generations", "3")["generations"]
    assert [g["generation"] for g in generations] == [0, 1, 2, 3]
    assert all(g["gate"]["passed"] for g in generations)
    assert generations[0]["metrics"]["drift_share"] == 0.0, generations[0]["metrics"]
    for g in range(1, 4):
        synthetic = pd.read_parquet(workspace / f"generations/gen_{g:03d}/synthetic.parquet")
        for column in WHOLE:
            assert pd.api.types.is_integer_dtype(synthetic[column]), column
            assert synthetic[column].between(first[column].min(), first[column].max()).all(), column
        assert set(synthetic["occupation"]) <= set(first["occupation"])
        assert set(synthetic["children"]) <= set(first["children"])  # interval answers keep their values

    later.to_csv(workspace / "more.csv", index=False)
    ingested = cli(workspace, "ingest", str(workspace / "more.csv"))
    assert ingested["added"] == 100 and ingested["rows"] == 1000
    assert ingested["repeated"] > 0  # equal to an anchor record: reported, and kept
    assert cli(workspace, "audit", "verify")["ok"]
    assert cli(workspace, "run", "--generations", "1")["generations"][0]["gate"]["passed"]
