"""A blocked gate and a collapse metric under its floor, in a real run: the alerts reach a local receiver."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from tests.conftest import write_params
from tests.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def test_a_blocked_gate_and_a_metric_below_its_floor_are_alerted(workspace: Path):
    with Receiver() as receiver:
        params = write_params(
            workspace,
            gate={"min_real_fraction": 0.95},  # generation 1 (accumulate: ~0.8 real) is blocked
            alerts={"urls": [receiver.url], "metric_floors": {"tail_coverage": 100.0}},
        )
        result = CliRunner().invoke(app, ["run", "-n", "1", "--params", str(params)])
    assert result.exit_code == 4, result.output
    titles = [post["title"] for post in receiver.posts]
    assert titles == [
        "collapse-guard: collapse metric below its floor (generation 0)",
        "collapse-guard: gate blocked (generation 1)",
    ]
    blocked = receiver.posts[1]["message"]
    assert "generation: 1" in blocked and "gate.min_real_fraction" in blocked
    assert "file: generations/gen_001/gate.json" in blocked
    assert "file: generations/gen_000/metrics.json" in receiver.posts[0]["message"]
