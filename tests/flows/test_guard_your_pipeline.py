"""docs/guard-your-pipeline.md runs as written: its worked example's commands, read from the page, run one by one
in a copy of the repository's layout (the example folder and the suites), in-process, each one required to
succeed; then what they must have recorded. The Prefect flow variant runs a third round on the same workspace."""

from __future__ import annotations

import contextlib
import os
import runpy
import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.records import ledger
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
DOC = REPO / "docs" / "guard-your-pipeline.md"


def commands(marker: str) -> list[str]:
    """The lines of the ``sh`` block that follows ``<!-- marker -->`` in the page."""
    text = DOC.read_text()
    start = text.index(f"<!-- {marker} -->")
    block = text[text.index("```sh\n", start) + len("```sh\n") :]
    return [line.strip() for line in block[: block.index("```")].splitlines() if line.strip()]


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    before, path = Path.cwd(), list(sys.path)
    os.chdir(folder)
    sys.path.insert(0, str(folder))  # as `python script.py` puts the script's folder first
    try:
        yield
    finally:
        os.chdir(before)
        sys.path[:] = path


def run(line: str, cwd: Path) -> Path:
    """One command of the page, as a shell would run it; returns the working folder after it."""
    words = shlex.split(line)
    if words[:2] == ["cp", "-r"]:
        shutil.copytree(cwd / words[2], cwd / words[3])
    elif words[0] == "cd":
        return cwd / words[1]
    elif words[0] == "collapse-guard":
        with inside(cwd):
            result = CliRunner().invoke(app, words[1:], catch_exceptions=False)
        assert result.exit_code == 0, f"{line}\n{result.output}"
    elif words[0] == "python":
        with inside(cwd):
            saved, sys.argv = sys.argv, words[1:]
            try:
                runpy.run_path(words[1], run_name="__main__")
            finally:
                sys.argv = saved
    else:
        raise AssertionError(f"the page runs a command this test does not know: {line}")
    return cwd


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Path:
    """The worked example's commands, from the repository's root (a copy: the example folder and the suites)."""
    root = tmp_path_factory.mktemp("repository")
    shutil.copytree(REPO / "examples" / "guard-your-pipeline", root / "examples" / "guard-your-pipeline")
    (root / "expectations").symlink_to(REPO / "expectations")
    cwd = root
    for line in commands("worked-example"):
        cwd = run(line, cwd)
    return cwd


def recorded(workspace: Path) -> list[dict]:
    return [e["body"] for e in ledger.read(workspace / "ledger/ledger.jsonl") if e["kind"] == "generation_recorded"]


def test_the_worked_example_runs_as_written_and_records_two_generations_trained_elsewhere(ran: Path):
    entries = ledger.read(ran / "ledger/ledger.jsonl")
    checks = [e["body"] for e in entries if e["kind"] == "mixture_checked"]
    assert [c["verdict"] for c in checks] == ["passed", "passed"]
    assert checks[0]["mixture"]["synthetic"] == 0 and checks[1]["mixture"]["synthetic"] > 0
    first, second = recorded(ran)
    assert [first["generation"], second["generation"]] == [0, 1]
    assert first["trained"] == second["trained"] == "elsewhere"
    assert second["parent_model_id"] == first["model_id"]  # the model that wrote round 1's synthetic text
    assert second["mixture"]["sha256"] == checks[1]["mixture"]["sha256"]
    assert {"rare_token_mass_retention", "heldout_real_loss"} <= set(second["metrics"])
    assert (ran / second["model_path"]).is_file() and (ran / "generations/gen_001/signature.sigstore.json").is_file()
    verified = CliRunner().invoke(app, ["audit", "verify", "--params", str(ran / "params.yaml")])
    assert verified.exit_code == 0, verified.output


def test_the_flow_variant_runs_a_third_round_as_written(ran: Path):
    for line in commands("worked-example-flow"):
        run(line, ran)
    third = recorded(ran)[-1]
    assert third["generation"] == 2 and third["recorded_by"] == "api"
    assert third["parent_model_id"] == recorded(ran)[1]["model_id"]
    check = [e for e in ledger.read(ran / "ledger/ledger.jsonl") if e["kind"] == "mixture_checked"][-1]
    assert check["body"]["by"] == "api" and third["gate"]["ledger_line"] == check["seq"]
