"""Suites are checked like code when they are loaded: a suite that cannot check anything is a configuration
error (exit 2) naming its file, before anything runs, never a traceback and a gate that passes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.errors import ConfigError
from collapse_guard.pipeline import gate
from tests.conftest import REPO, write_params

ALL_PARAMETERS = (*gate.CORE_PARAMETERS, "min_incoming_rows", "incoming_columns", *gate.PROMOTION_PARAMETERS)


def broken_copy(tmp_path: Path, change) -> tuple[Path, Path]:
    """expectations/ copied to ``tmp_path``, with ``change`` applied to mixture.json; (folder, that file)."""
    folder = tmp_path / "expectations"
    shutil.copytree(REPO / "expectations", folder)
    path = folder / "mixture.json"
    suite = json.loads(path.read_text())
    change(suite)
    path.write_text(json.dumps(suite))
    return folder, path


def misspell(suite: dict) -> None:
    suite["expectations"][0]["type"] = "expect_column_values_to_be_in_sett"


def unknown_target(suite: dict) -> None:
    suite["meta"]["applies_to"] = "mixtures"


def no_expectations(suite: dict) -> None:
    suite["expectations"] = []


def unfilled_parameter(suite: dict) -> None:
    suite["expectations"][0]["kwargs"]["mostly"] = {"$PARAMETER": "min_real_fractoin"}


BROKEN = {
    "misspelled type": (misspell, "expectation 0 has an unknown type 'expect_column_values_to_be_in_sett'"),
    "unknown applies_to": (
        unknown_target,
        "meta.applies_to 'mixtures' is unknown (known: anchor, mixture, incoming, promotion)",
    ),
    "no expectations": (no_expectations, "the suite has no expectations: it would check nothing and pass"),
    "unfilled parameter": (
        unfilled_parameter,
        "expectation 0 (expect_column_values_to_be_in_set) uses $PARAMETER 'min_real_fractoin', which has no value",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_suite_is_a_config_error_naming_its_file(tmp_path: Path, case: str):
    change, sentence = BROKEN[case]
    folder, path = broken_copy(tmp_path, change)
    with pytest.raises(ConfigError) as raised:
        gate.load_suites(folder, "tabular", ALL_PARAMETERS)
    assert sentence in str(raised.value) and str(path) in str(raised.value)
    assert raised.value.exit_code == 2


def test_the_repository_suites_load_with_every_parameter_filled():
    from collapse_guard.config import Params
    from collapse_guard.text.modality import TextModality

    text_parameters = tuple(TextModality(Params(data={"modality": "text"})).gate_parameters())
    for modality, extra in (("tabular", ()), ("text", text_parameters)):
        suites = gate.load_suites(REPO / "expectations", modality, (*ALL_PARAMETERS, *extra))
        assert {"anchor", "mixture", "provenance"} <= set(suites)
    assert {"incoming", "promotion"} <= set(gate.load_suites(REPO / "expectations", "tabular", ALL_PARAMETERS))


def test_a_parameter_check_is_skipped_only_when_no_values_are_named(tmp_path: Path):
    folder, _ = broken_copy(tmp_path, unfilled_parameter)
    assert "mixture" in gate.load_suites(folder, "tabular")  # the GX run itself would then fail loudly


@pytest.mark.parametrize("case", ["misspelled type", "unfilled parameter"])
def test_init_refuses_a_broken_suite_with_exit_2_before_writing_anything(tmp_path: Path, case: str):
    folder, path = broken_copy(tmp_path, BROKEN[case][0])
    workspace = tmp_path / "ws"
    workspace.mkdir()
    params = write_params(workspace)
    text = params.read_text().replace(str(REPO / "expectations"), str(folder))
    params.write_text(text)
    result = CliRunner().invoke(app, ["init", "--params", str(params), "--json"], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "ConfigError" and str(path) in error["message"] and "Traceback" not in result.output
    assert sorted(p.name for p in workspace.iterdir()) == ["params.yaml"]
