"""Two `collapse-guard run` started together in one workspace (a cron job overlapping a slow run): the second
waits for the first, and the history holds each generation number once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.records import ledger
from tests.conftest import write_params

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
CLI = str(Path(sys.executable).parent / "collapse-guard")


def start_run(params: Path) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [CLI, "run", "-n", "1", "--json", "--params", str(params)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_runs_started_together_record_distinct_generations(workspace: Path):
    params = write_params(workspace, run={"lock_wait_seconds": 600})
    assert CliRunner().invoke(app, ["init", "--params", str(params)]).exit_code == 0
    runs = [start_run(params), start_run(params)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    entries = ledger.read(workspace / "ledger/ledger.jsonl")
    recorded = [e["body"]["generation"] for e in entries if e["kind"] == "generation_recorded"]
    assert sorted(recorded) == [0, 1, 2] and max(Counter(recorded).values()) == 1
    runs_logged = [e["kind"] for e in entries if e["kind"] in ("run_started", "run_finished")]
    assert runs_logged == ["run_started", "run_finished"] * 2  # one after the other, never interleaved


def test_a_second_run_without_a_wait_stops_with_exit_code_8_naming_the_holder(workspace: Path):
    params = write_params(workspace)
    assert CliRunner().invoke(app, ["init", "--params", str(params)]).exit_code == 0
    first = start_run(params)
    try:
        from collapse_guard.records.lock import lock_paths, read_holder

        note = lock_paths(workspace)[1]
        while read_holder(note) is None and first.poll() is None:
            time.sleep(0.05)  # not a busy loop: the run it waits for needs the CPU
        result = CliRunner().invoke(app, ["run", "-n", "1", "--params", str(params)])
        assert result.exit_code == 8, result.output
        assert f"pid {first.pid}" in result.output and "collapse-guard run" in result.output
        assert "Traceback" not in result.output
    finally:
        first.communicate(timeout=600)
    assert first.returncode == 0
