"""`collapse-guard serve` serves the guarded retraining flow as a Prefect deployment with the schedule from
params.yaml; a run of that deployment, on a real Prefect server, completes and records its generations."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.records import ledger
from tests.conftest import write_params

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
CLI = str(Path(sys.executable).parent / "collapse-guard")
DEPLOYMENT = "scheduled-retraining/nightly-test"


def wait_for_deployment(client, name: str, server: subprocess.Popen, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()
        try:
            return client.read_deployment_by_name(name)
        except Exception:  # not registered yet
            time.sleep(1)
    raise AssertionError(f"deployment {name} never appeared")


def test_a_served_deployment_has_the_schedule_and_a_run_of_it_completes(workspace: Path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    params = write_params(workspace, schedule={"deployment": "nightly-test", "cron": "17 3 * * *", "generations": 1})
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [CLI, "serve", "--params", str(params)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        with get_client(sync_client=True) as client:
            deployment = wait_for_deployment(client, DEPLOYMENT, server)
            assert [s.schedule.cron for s in deployment.schedules] == ["17 3 * * *"]
            assert deployment.parameters == {"params_file": str(params.resolve()), "generations": 1}
        flow_run = run_deployment(DEPLOYMENT, timeout=600, poll_interval=2)
        assert flow_run.state.type.value == "COMPLETED", flow_run.state
    finally:
        server.terminate()
        server.communicate(timeout=60)
    recorded = [
        e["body"]["generation"]
        for e in ledger.read(workspace / "ledger/ledger.jsonl")
        if e["kind"] == "generation_recorded"
    ]
    assert recorded == [0, 1]


def test_serve_without_a_persistent_prefect_server_says_how_to_start_one(workspace: Path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    result = CliRunner().invoke(app, ["serve", "--params", str(workspace / "params.yaml")])
    assert result.exit_code == 2 and "make server" in " ".join(result.output.split())
