"""Without a configured Prefect API, `collapse-guard run` starts Prefect's server itself, reports its flows to it
and stops it; a server that does not come up in time is a named cause (exit 9). In subprocesses with their own
PREFECT_HOME: nothing of the test session's Prefect server reaches them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.errors import ServiceUnavailable

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).parent / "collapse-guard")


def servers_of(prefect_home: Path) -> list[int]:
    """Running uvicorn processes started with ``prefect_home`` in their environment."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (
                b"uvicorn" in (proc / "cmdline").read_bytes()
                and str(prefect_home).encode() in (proc / "environ").read_bytes()
            ):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def run_without_api(workspace: Path, prefect_home: Path, **environ: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "OMP_NUM_THREADS": "1", **environ}
    env.pop("PREFECT_API_URL", None)
    return subprocess.run(
        [CLI, "run", "-n", "1", "--json", "--params", str(workspace / "params.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_a_run_without_an_api_starts_a_server_reports_to_it_and_stops_it(workspace: Path, tmp_path: Path):
    assert CliRunner().invoke(app, ["init", "--params", str(workspace / "params.yaml")]).exit_code == 0
    home = tmp_path / "prefect-home"

    # a server that does not answer within the startup timeout: a named cause, nothing recorded, no server left
    late = run_without_api(workspace, home, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1")
    assert late.returncode == ServiceUnavailable.exit_code, late.stdout + late.stderr
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in late.stdout and "make server" in late.stdout
    assert "Traceback" not in late.stderr
    deadline = time.monotonic() + 10
    while servers_of(home) and time.monotonic() < deadline:  # stopped on the way out (terminate, then kill)
        time.sleep(0.2)
    assert servers_of(home) == []
    assert "generation_recorded" not in (workspace / "ledger/ledger.jsonl").read_text()

    # with the default timeout: the flows' runs are in the server's database, and the server is gone
    result = run_without_api(workspace, home)
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(home / "prefect.db") as db:
        flows = {name for (name,) in db.execute("select name from flow")}
        tasks = db.execute("select count(*) from task_run where state_type = 'COMPLETED'").fetchone()[0]
    assert {"guarded-retraining", "guarded-generation"} <= flows and tasks > 10
    assert servers_of(home) == []


def test_only_the_console_script_tunes_and_freezes_the_collector():
    code = (
        "import atexit, gc, sys\n"
        "from typer.testing import CliRunner\n"
        "from collapse_guard.cli import app\n"
        "CliRunner().invoke(app, ['--help'])\n"
        "print(gc.get_threshold()[2], gc.get_freeze_count() > 0)\n"
        "atexit.register(lambda: print(gc.get_threshold()[2], gc.get_freeze_count() > 0))\n"
        "sys.argv = ['collapse-guard', '--help']\n"
        "app()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.splitlines()
    assert out[0] == "10 False"  # in-process (a test, a notebook): CPython's defaults, nothing frozen
    assert out[-1] == "100 True"  # the console script, once the command is done
