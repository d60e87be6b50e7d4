"""Every external part answers in bounded time or fails with its named cause and exit code, no traceback."""

from __future__ import annotations

import errno
import json
import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.errors import DataError, ServiceUnavailable, WorkspaceUnwritable
from collapse_guard.generator import load_generator
from collapse_guard.modality.registry import load_params
from collapse_guard.pipeline import preflight
from collapse_guard.pipeline.causes import named_cause
from tests.conftest import write_params

GMM = "collapse_guard.tabular.gmm:GaussianMixtureGenerator"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cli(workspace: Path, *args: str):
    return CliRunner().invoke(app, [*args, "run", "-n", "1", "--params", str(workspace / "params.yaml")])


def test_an_mlflow_server_that_is_down_fails_fast_naming_its_address(workspace: Path, monkeypatch):
    address = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", address)
    started = time.monotonic()
    result = run_cli(workspace)
    assert time.monotonic() - started < 30
    assert result.exit_code == 9, result.output
    assert "MLflow tracking server" in result.output and address in result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback_of_an_expected_failure(workspace: Path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setattr(preflight, "check_mlflow", _raise_unavailable)
    result = run_cli(workspace, "--debug")
    assert result.exit_code == 9 and "Traceback" in result.output


def _raise_unavailable(uri: str) -> None:
    try:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    except OSError as error:
        raise ServiceUnavailable(f"the MLflow tracking server at {uri} did not answer") from error


def test_an_unreachable_prefect_api_is_named(workspace: Path):
    params = load_params(workspace / "params.yaml")
    url = f"http://127.0.0.1:{closed_port()}/api"
    with pytest.raises(ServiceUnavailable, match="Prefect API") as caught:
        preflight.check(params, url)
    assert url in str(caught.value) and "make server" in str(caught.value)


def test_a_corrupt_mlflow_db_is_named(workspace: Path):
    (workspace / "mlflow.db").write_bytes(b"this is not a database" * 100)
    result = run_cli(workspace)
    assert result.exit_code == 9, result.output
    assert "mlflow.db" in result.output and "corrupt" in result.output and "Traceback" not in result.output


def test_a_generations_folder_that_cannot_be_written_is_named(workspace: Path):
    (workspace / "generations").write_text("a file where the folder should be")
    result = run_cli(workspace)
    assert result.exit_code == 10, result.output
    assert "generations" in result.output and "Traceback" not in result.output


def test_a_read_only_ledger_folder_is_named(workspace: Path):
    params = load_params(workspace / "params.yaml")
    error = PermissionError(errno.EACCES, "Permission denied", str(params.ledger_path))
    assert named_cause(RuntimeError("task failed"), params) is None  # a bug is not an expected failure
    wrapped = RuntimeError("task failed")
    wrapped.__cause__ = error
    cause = named_cause(wrapped, params)
    assert isinstance(cause, WorkspaceUnwritable) and "ledger.jsonl" in str(cause) and cause.exit_code == 10


def test_a_temporary_prefect_server_that_does_not_start_is_named(workspace: Path):
    """Prefect raises a bare RuntimeError when its temporary server misses its start-up deadline (seen on a
    loaded machine): the operator gets the service, the exit code and what to do, not a traceback."""
    params = load_params(workspace / "params.yaml")
    timeout = RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")
    cause = named_cause(timeout, params)
    assert isinstance(cause, ServiceUnavailable) and cause.exit_code == 9
    assert "make server" in str(cause) and "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in str(cause)


def test_a_truncated_model_file_is_a_data_error_naming_it(tmp_path: Path):
    import pandas as pd

    from collapse_guard.tabular.gmm import GaussianMixtureGenerator

    model = GaussianMixtureGenerator(components=2, epochs=5)
    model.fit(pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 0.0]}), seed=1)
    path = tmp_path / "model.pt"
    model.save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated or corrupt") as caught:
        load_generator(GMM, path)
    assert str(path) in str(caught.value) and caught.value.exit_code == 3


def test_exit_codes_8_to_10_are_in_the_help():
    result = CliRunner().invoke(app, ["--help"])
    for code in ("8 = workspace busy", "9 = an external service", "10 = a workspace folder"):
        assert code in " ".join(result.output.split())


def test_json_output_names_the_cause(workspace: Path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    result = CliRunner().invoke(app, ["run", "--json", "--params", str(workspace / "params.yaml")])
    payload = json.loads(result.stdout)
    assert payload["error"]["type"] == "ServiceUnavailable" and payload["error"]["exit_code"] == 9


def test_write_params_helper_still_valid(tmp_path: Path):
    assert load_params(write_params(tmp_path)).run.lock_wait_seconds == 0


def test_an_mlflow_server_that_accepts_but_never_answers_fails_within_the_bound(workspace: Path, monkeypatch):
    with socket.socket() as silent:  # listens, never accepts or answers: the "hangs with no output" case
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", address)
        started = time.monotonic()
        result = run_cli(workspace)
    assert time.monotonic() - started < 30
    assert result.exit_code == 9 and address in result.output and "timed out" in result.output


def test_run_with_an_unreachable_prefect_api_exits_9_naming_it(workspace: Path, monkeypatch):
    address = f"http://127.0.0.1:{closed_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", address)
    result = run_cli(workspace)
    assert result.exit_code == 9, result.output
    assert "Prefect API" in result.output and address in result.output and "Traceback" not in result.output


def test_training_on_a_work_pool_without_a_persistent_prefect_server_says_how_to_start_one(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    write_params(workspace, training={"work_pool": "gpu"})
    result = CliRunner().invoke(app, ["run", "-n", "1", "--params", str(workspace / "params.yaml"), "--json"])
    assert result.exit_code == 2
    message = json.loads(result.stdout)["error"]["message"]
    assert "training.work_pool 'gpu'" in message and "PREFECT_API_URL" in message and "make server" in message
