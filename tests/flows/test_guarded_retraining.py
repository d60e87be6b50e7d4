"""End to end through the CLI, in-process: real Prefect flow runs, GX, Evidently, MLflow and DVC.

Each blocking scenario checks the three promises: the cause is named, the exit code is distinct,
and the anchor file is unchanged byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.errors import GateBlocked, LedgerTampered, PolicyForbidden
from collapse_guard.records.ledger import read as read_ledger
from tests.conftest import copy_workspace, resign_as_insider, sha256_of, write_params
from tests.ledger_kinds import assert_documented
from tests.metric_names import disagreements, recorded_numbers, uncatalogued

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
ANCHOR = Path("data/anchor/real.parquet")  # a folder: the anchor dataset (parts and their manifest)
FIRST_PART = ANCHOR / "part-00000.parquet"


def cli(workspace: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--params", str(workspace / "params.yaml")], catch_exceptions=False)


def run_json(workspace: Path, generations: int = 1):
    result = cli(workspace, "run", "--generations", str(generations), "--json")
    return result, json.loads(result.stdout)


@pytest.fixture(scope="module")
def recorded_once(tmp_path_factory, prefect_server) -> Path:
    """Generations 0 and 1 recorded, once for the module; tests get copies of it (``ran_once``)."""
    workspace = tmp_path_factory.mktemp("recorded") / "ws"
    workspace.mkdir()
    write_params(workspace)
    result, _ = run_json(workspace, 1)
    assert result.exit_code == 0, result.output
    return workspace


@pytest.fixture
def ran_once(recorded_once: Path, tmp_path: Path) -> Path:
    """A workspace of its own with generations 0 and 1 recorded."""
    return copy_workspace(recorded_once, tmp_path / "ws")


def test_two_generations_end_to_end(workspace: Path):
    result, payload = run_json(workspace, 2)
    assert result.exit_code == 0, result.output
    generations = payload["generations"]
    assert [g["generation"] for g in generations] == [0, 1, 2]
    assert [g["real_fraction"] for g in generations][0] == 1.0
    assert generations[1]["real_fraction"] > generations[2]["real_fraction"]  # accumulate dilutes the real share
    for g in generations:
        assert g["gate"]["passed"] and g["status"] == "recorded"
        assert 0.0 <= g["metrics"]["drift_share"] <= 1.0
        assert 0.3 < g["metrics"]["variance_ratio"] < 3.0
        assert (workspace / g["drift_report"]).read_text().strip().lower().startswith("<!doctype html")
    assert generations[2]["counts"]["synthetic"] == generations[1]["counts"]["kept"] + generations[2]["counts"]["kept"]

    # MLflow: one parent run, one nested run per generation, metrics by generation step
    db = sqlite3.connect(workspace / "mlflow.db")
    runs = db.execute("select run_uuid, name from runs").fetchall()
    assert len(runs) == 4
    steps = db.execute(
        "select step from metrics where key='real_fraction' and run_uuid=?", (generations[2]["mlflow_run_id"],)
    ).fetchall()
    assert steps == [(2,)]
    parents = db.execute("select value from tags where key='mlflow.parentRunId'").fetchall()
    assert len(parents) == 3 and len(set(parents)) == 1

    # DVC: the anchor and each generation are tracked and pushed to the local remote
    assert (workspace / "data/anchor/real.parquet.dvc").is_file()
    assert (workspace / "generations/gen_002.dvc").is_file()
    assert any((workspace / ".dvc-remote").rglob("*"))

    # Each generation was written in a staging folder and published whole: nothing staged is left, and every
    # path recorded is the published one
    assert not any((workspace / "generations/.staging").iterdir())
    ledger_text = (workspace / "ledger/ledger.jsonl").read_text()
    assert ".staging" not in ledger_text and '"generations/gen_002/model.pt"' in ledger_text
    # every gate verdict names the floor it applied and where it came from
    verdicts = [json.loads(line)["body"] for line in ledger_text.splitlines() if '"gate_verdict"' in line]
    assert len(verdicts) == 3
    for verdict in verdicts:
        assert verdict["applied"]["parameters"]["min_real_fraction"] == 0.25
        assert verdict["applied"]["sources"]["min_real_fraction"] == "params.yaml gate.min_real_fraction"

    # The ledger verifies and shows the lineage back to generation 0
    assert cli(workspace, "audit", "verify").exit_code == 0
    shown = json.loads(cli(workspace, "audit", "show", "--json").stdout)
    assert [e["generation"] for e in shown["lineage"]] == [2, 1, 0]
    assert shown["lineage"][0]["anchor"]["dvc_md5"]
    kinds = assert_documented(workspace / "ledger/ledger.jsonl")  # the ledger reference covers what a run writes
    assert {"anchor_initialised", "run_started", "gate_verdict", "generation_recorded", "run_finished"} <= kinds

    # One name, one number: generation 2's metrics agree across the summary, MLflow, the ledger and the Evidently
    # report's JSON; the report's own tail estimate has a name of its own, recorded everywhere too
    numbers = recorded_numbers(
        workspace, generations[2], workspace / "ledger/ledger.jsonl", workspace / "generations/gen_002/drift.json"
    )
    assert disagreements(numbers) == {}
    from collapse_guard.tabular.modality import TabularModality

    assert uncatalogued(numbers, TabularModality.metric_catalog) == set()  # every metric is in the docs' reference
    evaluated = set(numbers["ledger"])
    assert evaluated <= set(numbers["summary"]) and evaluated <= set(numbers["mlflow"])
    assert evaluated - {"real_fraction", "anchor_rows"} <= set(numbers["evidently"])
    assert {"tail_coverage", "variance_ratio", "drift_share", "tail_coverage_anchor_halves"} <= evaluated
    gate = [e for e in read_ledger(workspace / "ledger/ledger.jsonl") if e["kind"] == "gate_verdict"][-1]["body"]
    assert gate["applied"]["parameters"]["min_real_fraction"] == 0.25 and set(gate["applied"]["suites"]) >= {"mixture"}


def test_a_second_run_continues_from_the_last_generation(ran_once: Path):
    result, payload = run_json(ran_once, 1)
    assert result.exit_code == 0
    assert [g["generation"] for g in payload["generations"]] == [2]


def _tamper(path: Path, change) -> None:
    frame = pd.read_parquet(path)
    change(frame)
    frame.to_parquet(path, index=False)
    resign_as_insider(path)  # signatures would stop this first (tests/flows/test_trust.py): test the gate


def _assert_blocked(workspace: Path, fragment: str, code: int = GateBlocked.exit_code, file: str = "") -> dict:
    anchor_before = sha256_of(workspace / ANCHOR)
    result, payload = run_json(workspace, 1)
    assert result.exit_code == code, result.output
    assert sha256_of(workspace / ANCHOR) == anchor_before
    text = json.dumps(payload)
    assert fragment in text, text
    assert file in text
    assert result.stderr.count(fragment) == 1, result.stderr  # the terminal says it once (not the gate, alert, error)
    blocked = payload["generations"][-1]
    assert blocked["status"] == "blocked" and not blocked["gate"]["passed"]
    folder = workspace / f"generations/gen_{blocked['generation']:03d}"
    assert not (folder / "model.pt").exists()  # never trained
    if code == GateBlocked.exit_code:  # the evidence is published where the message says, nothing left staged
        assert (folder / "gate.json").is_file() and ".staging" not in text
        assert not any((workspace / "generations/.staging").iterdir())
    if code == GateBlocked.exit_code:
        assert _latest_prefect_run_state(f"generation-{blocked['generation']}") == "FAILED"
        db = sqlite3.connect(workspace / "mlflow.db")
        tag = db.execute("select value from tags where key='gate' and run_uuid=?", (blocked["mlflow_run_id"],))
        assert tag.fetchall() == [("blocked",)]
    return payload


def _latest_prefect_run_state(name: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    return runs[0].state.type.value


def test_missing_provenance_blocks(ran_once: Path):
    pool = ran_once / "generations/gen_001/synthetic.parquet"
    _tamper(pool, lambda f: f.__setitem__("model_id", f["model_id"].where(f.index != 3, None)))
    _assert_blocked(ran_once, "records without a 'model_id': 1 of", file="generations/gen_001/synthetic.parquet")


def test_a_shrunk_anchor_blocks(ran_once: Path):
    _tamper(ran_once / FIRST_PART, lambda f: f.drop(index=f.index[10], inplace=True))
    payload = _assert_blocked(ran_once, "fewer than the 600 the pipeline last recorded: it shrank", file=str(ANCHOR))
    assert "fewer than the 600" in json.dumps(payload)


def test_real_fraction_below_the_floor_blocks_and_the_trail_keeps_the_floor_applied(workspace: Path):
    write_params(workspace, gate={"min_real_fraction": 0.95})
    assert cli(workspace, "init").exit_code == 0
    payload = _assert_blocked(workspace, "is below the floor 0.95 (gate.min_real_fraction)")
    assert [g["generation"] for g in payload["generations"]] == [0, 1]  # gen 0 (all real) passed
    blocked = payload["generations"][-1]
    sentence = f"real fraction {blocked['real_fraction']:.2f} is below the floor 0.95 (gate.min_real_fraction)"
    assert [failure.split(" (in ")[0] for failure in blocked["gate"]["failures"]] == [f"[mixture] {sentence}"]
    blocked_fraction = payload["generations"][1]["real_fraction"]
    assert blocked_fraction < 0.95

    # params.yaml back to 0.25: the page and `audit show` still show the 0.95 that blocked generation 1
    write_params(workspace)
    report = cli(workspace, "audit", "report", "--json")
    assert report.exit_code == 0, report.output
    view = json.loads(report.stdout)
    shown_blocked = next(g for g in view["generations"] if g["generation"] == 1)
    assert shown_blocked["status"] == "blocked" and shown_blocked["floor"] == 0.95
    assert shown_blocked["anchor_rows"] == 600 and len(shown_blocked["anchor_digest"]) == 64  # the anchor it observed
    page = (workspace / "reports/audit.html").read_text()
    assert f'<td class="num blocked">{blocked_fraction:.3f}</td>' in page and ">0.95</td>" in page
    assert "gate floor 0.25" not in page and "anchor: ? rows" not in page
    shown = cli(workspace, "audit", "show", "-g", "1")
    assert shown.exit_code == 0, shown.output
    assert "generation 1  gate blocked" in shown.output
    assert f"real fraction {blocked_fraction:.3f} against the floor 0.95 (params.yaml gate.min_real_fraction)" in (
        shown.output
    )
    assert f"failed: [mixture] {sentence}" in shown.output
    assert "anchor observed: 600 rows" in shown.output and "applied: suite mixture: sha256" in shown.output

    # `status`: the champion (generation 0), the last run blocked and by what, the alert it raised, what comes next
    said = cli(workspace, "status", "--json")
    assert said.exit_code == 0, said.output
    status = json.loads(said.stdout)
    assert status["verified"] and status["champion"]["generation"] == 0 and status["next_generation"] == 1
    assert status["last_run"]["outcome"] == "blocked"
    assert status["last_run"]["blocked_by"] == [{"generation": 1, "failures": blocked["gate"]["failures"]}]
    assert [(a["event"], a["generation"]) for a in status["open_alerts"]] == [("gate blocked", 1)]
    assert status["anchor"]["rows"] == 600 and status["schedule"]["cron"]
    text = cli(workspace, "status").output
    assert "generation 1 blocked: [mixture] " + sentence in text and "champion    generation 0" in text


def test_nan_in_features_blocks(ran_once: Path):
    _tamper(
        ran_once / "generations/gen_001/synthetic.parquet", lambda f: f.__setitem__("x0", f["x0"].where(f.index != 0))
    )
    _assert_blocked(ran_once, "records with NaN or infinity in a feature", file="generations/gen_001/synthetic.parquet")


def test_a_schema_mismatch_blocks(ran_once: Path):
    _tamper(ran_once / "generations/gen_001/synthetic.parquet", lambda f: f.__setitem__("x2", 0.0))
    _assert_blocked(ran_once, "the mixture's columns are not the anchor's (not expected: 'x2')")


def test_replace_is_refused_in_production_before_anything_runs(ran_once: Path):
    anchor_before, ledger_before = sha256_of(ran_once / ANCHOR), sha256_of(ran_once / "ledger/ledger.jsonl")
    write_params(ran_once, mixing={"policy": "replace"})
    result = cli(ran_once, "run", "--generations", "1", "--json")
    assert result.exit_code == PolicyForbidden.exit_code
    assert "replace" in json.loads(result.stdout)["error"]["message"]
    assert sha256_of(ran_once / ANCHOR) == anchor_before
    assert sha256_of(ran_once / "ledger/ledger.jsonl") == ledger_before


def test_ledger_tampering_is_detected_and_stops_the_next_run(ran_once: Path):
    ledger = ran_once / "ledger/ledger.jsonl"
    lines = ledger.read_text().splitlines()
    entry = json.loads(lines[3])
    entry["body"]["model_id"] = "forged"
    lines[3] = json.dumps(entry, sort_keys=True)
    ledger.write_text("\n".join(lines) + "\n")
    verify = cli(ran_once, "audit", "verify", "--json")
    assert verify.exit_code == LedgerTampered.exit_code
    assert "line 4" in json.loads(verify.stdout)["error"]["message"]
    anchor_before = sha256_of(ran_once / ANCHOR)
    result = cli(ran_once, "run", "--generations", "1", "--json")
    assert result.exit_code == LedgerTampered.exit_code
    assert sha256_of(ran_once / ANCHOR) == anchor_before


def test_ingest_appends_real_data_and_the_next_generation_uses_it(ran_once: Path, tmp_path: Path):
    import numpy as np

    from collapse_guard.tabular.default_data import sample_default

    new = tmp_path / "new_real.csv"
    sample_default(50, 0.025, np.random.default_rng(99)).to_csv(new, index=False)
    first_part = sha256_of(ran_once / FIRST_PART)
    (ran_once / ANCHOR / "part-00001.parquet").write_bytes(b"half a part")  # an ingest killed before its manifest
    result = cli(ran_once, "ingest", str(new), "--json")
    assert result.exit_code == 0, result.output
    assert "removed a part of the anchor its manifest does not list" in result.stderr
    assert json.loads(result.stdout)["rows"] == 650
    assert sha256_of(ran_once / FIRST_PART) == first_part  # the append wrote one new part, nothing else
    assert len(pd.read_parquet(ran_once / ANCHOR / "part-00001.parquet")) == 50
    assert cli(ran_once, "audit", "verify").exit_code == 0
    result, payload = run_json(ran_once, 1)
    assert result.exit_code == 0
    assert payload["generations"][0]["anchor_rows"] == 650


def test_corrupt_anchor_is_a_data_error_naming_the_file(ran_once: Path):
    (ran_once / FIRST_PART).write_bytes(b"not parquet at all")
    resign_as_insider(ran_once / FIRST_PART)  # unsigned, it would be restored from DVC (tests/flows/test_trust.py)
    result = cli(ran_once, "run", "--generations", "1", "--json")
    assert result.exit_code == 3
    assert str(ANCHOR) in json.loads(result.stdout)["error"]["message"]


def test_user_data_with_a_categorical_column_runs_guarded_and_in_the_experiment(workspace: Path):
    import numpy as np

    from collapse_guard.tabular.default_data import sample_default
    from tests.conftest import rare_mode_mask

    data = sample_default(600, 0.025, np.random.default_rng(3))
    data["kind"] = np.where(rare_mode_mask(data), "rare-event", np.where(data["x0"] > 2, "east", "west"))
    data.to_csv(workspace / "mine.csv", index=False)
    write_params(
        workspace,
        data={"source": "mine.csv"},
        experiment={
            "policies": ["replace", "accumulate"],
            "seeds": 1,
            "generations": 2,
            "synthetic_per_generation": 150,
            "sweep": {"anchor_rows": [300], "real_fractions": [0.5], "generations": 2, "seeds": 1},
        },
    )
    result, payload = run_json(workspace, 1)
    assert result.exit_code == 0, result.output
    metrics = payload["generations"][-1]["metrics"]
    assert 0.0 <= metrics["level_coverage"] <= 1.0 and metrics["rare_level_retention"] >= 0.0
    assert "mine.csv@md5:" in pd.read_parquet(workspace / ANCHOR)["origin"].iloc[0]

    experiment = cli(workspace, "experiment", "--json")
    assert experiment.exit_code == 0, experiment.output
    summary = json.loads(experiment.stdout)
    table = pd.read_csv(workspace / summary["tables"]["results"])
    assert set(table["policy"]) == {"replace", "accumulate"} and table["generation"].max() == 2
    assert "rare_level_retention" in table and (workspace / summary["tables"]["safe_zone"]).is_file()
    assert any(f.endswith("rare_events.png") for f in summary["figures"])
