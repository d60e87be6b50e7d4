"""`dvc repro` runs the guarded generation stage of the repo's dvc.yaml, and runs it again only when the
stage's dependencies or the params sections it lists change (real DVC, real Prefect, in a subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from collapse_guard.cli import app
from tests.conftest import REPO
from tests.dvc_views import assert_dvc_shows_metrics_and_plots

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
STAGE = "guarded_generation"


def dvc(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the session's server, not a new one per stage run
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def recorded_generations(workspace: Path) -> list[int]:
    lines = (workspace / "ledger/ledger.jsonl").read_text().splitlines()
    return [e["body"]["generation"] for e in map(json.loads, lines) if e["kind"] == "generation_recorded"]


def test_dvc_repro_runs_the_stage_and_reruns_it_only_when_a_listed_param_changes(workspace: Path):
    for folder in ("collapse_guard", "tasks", "flows", "expectations"):  # the stage's code dependencies
        shutil.copytree(REPO / folder, workspace / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "dvc.yaml", workspace / "dvc.yaml")
    init = CliRunner().invoke(app, ["init", "--params", str(workspace / "params.yaml")])
    assert init.exit_code == 0, init.output

    first = dvc(workspace, "repro", STAGE)
    assert first.returncode == 0, first.stdout + first.stderr
    assert recorded_generations(workspace) == [0, 1]
    report = json.loads((workspace / "reports/last_run.json").read_text())  # written by the flow, not the CLI
    assert [g["generation"] for g in report["generations"]] == [0, 1]
    assert json.loads((workspace / "reports/latest_metrics.json").read_text())["generation"] == 1
    assert (workspace / "dvc.lock").is_file()
    assert_dvc_shows_metrics_and_plots(workspace, "tail_coverage")

    again = dvc(workspace, "repro", STAGE)
    assert again.returncode == 0 and "didn't change, skipping" in again.stdout + again.stderr
    assert recorded_generations(workspace) == [0, 1]

    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["tabular"]["near_copy_radius"] = 0.02  # a section the stage lists
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = dvc(workspace, "status", STAGE)
    assert "modified:" in changed.stdout and "tabular" in changed.stdout, changed.stdout + changed.stderr
    rerun = dvc(workspace, "repro", STAGE)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert recorded_generations(workspace) == [0, 1, 2]
