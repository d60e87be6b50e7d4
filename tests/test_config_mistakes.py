"""Configuration mistakes are caught once, up front, through the command line: exit 2 naming the key and the
file, before anything is written (no traceback, and nothing run with a value that cannot work)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.errors import ConfigError, DataError
from tests.conftest import write_params
from tests.ledger_kinds import assert_documented


def cli(params: Path, *args: str):
    result = CliRunner().invoke(app, [*args, "--params", str(params), "--json"])
    return result, json.loads(result.stdout) if result.stdout.strip() else {}


def refused(params: Path, *fragments: str, command: tuple[str, ...] = ("status",)) -> None:
    before = sorted(p.name for p in params.parent.iterdir())
    result, payload = cli(params, *command)
    assert result.exit_code == ConfigError.exit_code, result.output
    message = payload["error"]["message"]
    assert str(params) in message or params.name in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert sorted(p.name for p in params.parent.iterdir()) == before  # nothing written


def test_a_model_module_that_raises_on_import(workspace: Path, tmp_path: Path, monkeypatch):
    (tmp_path / "broken_model.py").write_text("raise ValueError('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    params = write_params(workspace, model={"class": "broken_model:Model", "options": {}})
    refused(params, "model.class 'broken_model:Model' cannot be imported: ValueError: no GPU here")


def test_a_params_file_that_is_not_utf8(workspace: Path):
    params = workspace / "params.yaml"
    params.write_bytes(params.read_text().replace("paths:", "# caf\xe9\npaths:").encode("latin-1"))
    refused(params, "not UTF-8 text (byte 0xe9")


def test_serve_with_an_invalid_cron_or_time_zone(workspace: Path):
    refused(write_params(workspace, schedule={"cron": "61 3 * * *"}), "schedule.cron", command=("serve",))
    refused(write_params(workspace, schedule={"timezone": "Mars/Olympus"}), "schedule.timezone", command=("serve",))


def test_a_model_class_that_is_not_a_generator(workspace: Path):
    params = write_params(workspace, model={"class": "collections:OrderedDict", "options": {}})
    refused(params, "model.class 'collections:OrderedDict' is not a collapse_guard.generator.Generator subclass")


def test_a_hugging_face_model_with_a_negative_size(workspace: Path):
    options = {"config": {"model_type": "gpt2", "n_layer": -1, "n_head": 2, "n_embd": 32}}
    params = write_params(workspace, model={"class": "collapse_guard.text.hf:HFLanguageModel", "options": options})
    refused(params, "model.options.config.n_layer")


def test_a_written_path_outside_the_workspace(workspace: Path, tmp_path: Path):
    params = write_params(workspace, paths={"anchor": str(tmp_path / "elsewhere" / "real.parquet")})
    refused(params, "paths.anchor", "leads out of the workspace", "paths.allow_outside_workspace")
    assert not (tmp_path / "elsewhere").exists()
    allowed = write_params(
        workspace, paths={"anchor": str(tmp_path / "elsewhere" / "real.parquet"), "allow_outside_workspace": True}
    )
    from collapse_guard.modality.registry import load_params

    assert load_params(allowed).anchor_path == tmp_path / "elsewhere" / "real.parquet"


def test_values_no_model_can_train_on_are_refused_at_the_door(tmp_path: Path):
    import pandas as pd

    workspace = tmp_path / "ws"
    workspace.mkdir()
    table = pd.DataFrame({"x0": [float(i) for i in range(200)], "x1": [0.5 * i for i in range(200)]})
    table.loc[17, "x1"] = 1e308
    table.to_csv(workspace / "survey.csv", index=False)
    params = write_params(workspace, data={"source": "survey.csv"})
    result, payload = cli(params, "init")
    assert result.exit_code == DataError.exit_code, result.output
    assert (
        "rows with a number too large to train on (above 1e150 in magnitude: scaling it overflows): 1 of 200, "
        "first in column 'x1' (rows 18)" in payload["error"]["message"]
    )
    assert not (workspace / "data").exists()


def test_a_changed_dvc_remote_is_applied_and_recorded(workspace: Path):
    from collapse_guard.records import ledger, versioning

    params = write_params(workspace)
    result, payload = cli(params, "init")
    assert result.exit_code == 0, result.output
    # init says what a clone needs committed (DVC's pointers and config, the public key), and nothing secret
    assert {".collapse-guard/signing.pub", "data/anchor/real.parquet.dvc", ".dvc/config"} <= set(payload["to_commit"])
    assert not any(path.endswith(".key") for path in payload["to_commit"])
    moved = write_params(workspace, tracking={"dvc_remote": "elsewhere-remote"})
    result, payload = cli(moved, "init")
    assert result.exit_code == 0, result.output
    new = str((workspace / "elsewhere-remote").resolve())
    assert any(item.startswith("changed the DVC remote") for item in payload["created"])
    assert versioning.configured_remote(workspace) == new and (workspace / "elsewhere-remote").is_dir()
    change = ledger.read(workspace / "ledger/ledger.jsonl")[-1]
    assert change["kind"] == "dvc_remote_changed" and change["body"]["to"] == new
    assert change["body"]["from"] == str((workspace / ".dvc-remote").resolve())
    assert cli(moved, "init")[1]["created"] == []  # applied once
    assert "dvc_remote_changed" in assert_documented(workspace / "ledger/ledger.jsonl")


def test_a_write_that_fails_mid_file_names_the_file_and_its_folder(tmp_path: Path):
    from collapse_guard.pipeline.preflight import unwritable
    from collapse_guard.records import atomic

    target = tmp_path / "generations" / "gen_001" / "mixture.parquet"
    with pytest.raises(OSError) as raised, atomic.atomic_path(target):
        raise OSError(errno.ENOSPC, "No space left on device")  # as write() raises it: no file named
    assert raised.value.filename == str(target) and not target.exists()
    cause = unwritable(tmp_path, raised.value)
    assert f"cannot write to {target.parent}: No space left on device" in str(cause)


def test_params_files_in_the_repo_pass_the_new_checks():
    from collapse_guard.modality.registry import load_params
    from tests.conftest import REPO

    for name in ("params.yaml", "examples/text/params.yaml"):
        assert yaml.safe_load((REPO / name).read_text())  # the files users copy load as they are
        load_params(REPO / name)
