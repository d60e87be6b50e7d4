"""An MLflow server that passes the health check and then fails every call (it died after the run started):
the run ends within the bounded retries with exit 9 naming MLflow and its address, and no traceback."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


class Failing(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def test_an_mlflow_server_failing_mid_run_is_named_with_exit_9(workspace: Path, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", address)
    try:
        started = time.monotonic()
        result = CliRunner().invoke(app, ["run", "-n", "1", "--params", str(workspace / "params.yaml")])
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 9, result.output
    assert "MLflow" in result.output and address in result.output and "Traceback" not in result.output
    assert elapsed < 120  # bounded: a few short retries, not MLflow's default minutes


def test_every_command_names_a_temporary_prefect_server_that_does_not_start(workspace: Path, tmp_path: Path):
    """``experiment`` fails as ``run`` does (one mechanism for every command): exit 9 naming the cause."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1"}
    cli = str(Path(sys.executable).with_name("collapse-guard"))
    params = str(workspace / "params.yaml")
    done = subprocess.run(
        [cli, "experiment", "--no-sweep", "--json", "--params", params], capture_output=True, text=True, env=env
    )
    assert done.returncode == 9, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "ServiceUnavailable" and "temporary local server did not start" in error["message"]
    assert "Traceback" not in done.stderr
