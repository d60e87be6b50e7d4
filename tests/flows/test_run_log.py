"""A run can be followed from a plain log file and from the Prefect UI alike: every step of every generation logs
one line when it starts and one when it ends (with its duration), written as it happens, and the flow run keeps
the same lines and two artifacts (the run's summary, the gate's verdict table)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_params

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
CLI = str(Path(sys.executable).with_name("collapse-guard"))
STEPS = ("mix", "gate", "record-gate-verdict", "train", "evaluate", "sign", "publish", "version", "record")


def test_a_run_logged_to_a_file_shows_each_step_and_the_prefect_ui_holds_the_same(workspace: Path, tmp_path: Path):
    from prefect.settings import PREFECT_API_URL

    params = write_params(workspace)
    log_file = tmp_path / "run.log"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "OMP_NUM_THREADS": "1"}
    with open(log_file, "w") as log:  # stdout and stderr to a file: no terminal, as under cron
        done = subprocess.run([CLI, "run", "-n", "1", "--params", str(params)], stdout=log, stderr=log, env=env)
    text = log_file.read_text()
    assert done.returncode == 0, text
    for generation in (0, 1):
        for step in (*STEPS, *(("generate-and-curate",) if generation else ())):
            label = f"generation {generation} · {step}"
            assert re.search(rf"^\d\d:\d\d:\d\d {re.escape(label)}: started$", text, re.M), label
            assert re.search(rf"^\d\d:\d\d:\d\d {re.escape(label)}: done in \d+\.\d s", text, re.M), label
    assert re.search(r"generation 1 · gate: done in \d+\.\d s: passed \(\d+ expectations\)", text)
    assert "Finished in state" not in text  # Prefect's own INFO lines are in its UI, not in the log file

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        (generation_run,) = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["generation-1"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[generation_run.id])))
        artifacts = {a.key for a in client.read_artifacts()}
    in_the_ui = [log.message for log in logs if log.name == "collapse_guard.steps"]
    for step in ("generate-and-curate", *STEPS):
        assert f"generation 1 · {step}: started" in in_the_ui
        assert any(m.startswith(f"generation 1 · {step}: done in ") for m in in_the_ui), step
    assert any(log.name == "prefect.task_runs" and log.level == logging.INFO for log in logs)  # Prefect's own too
    assert {"run-summary", "gate-verdict-generation-0", "gate-verdict-generation-1"} <= artifacts
