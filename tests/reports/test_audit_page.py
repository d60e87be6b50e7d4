"""The audit page's view and HTML, from a ledger written by hand (no pipeline run: fast)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from collapse_guard.modality.registry import load_params
from collapse_guard.records import alerts, ledger
from collapse_guard.reports import audit_page
from collapse_guard.reports.forecast import for_history
from tests.conftest import write_params

LABELS = {"tail_coverage": "tail coverage", "variance_ratio": "variance ratio"}


def _recorded(generation: int, tail: float, real: int, synthetic: int, forecast: dict | None = None) -> dict:
    return {
        "run": "r1",
        "generation": generation,
        "model_id": f"gen{generation:03d}-abc",
        "model_class": "m",
        "model_path": f"generations/gen_{generation:03d}/model.pt",
        "parent_model_id": f"gen{generation - 1:03d}-abc" if generation else "",
        "anchor": {"rows": 600, "digest": "d" * 64, "dvc_md5": "m" * 32},
        "mixture": {
            "policy": "accumulate",
            "rows": real + synthetic,
            "real": real,
            "synthetic": synthetic,
            "real_fraction": real / (real + synthetic),
            "file": f"generations/gen_{generation:03d}/mixture.parquet",
            "digest": "x" * 64,
        },
        "curation": {"generated": 150, "kept": 140, "dropped_duplicate": 6, "dropped_anchor_copy": 4}
        if generation
        else None,
        "metrics": {"tail_coverage": tail, "variance_ratio": 1.0},
        "dvc_md5": "",
        "mlflow_run_id": f"run{generation}",
        **({"forecast_settings": forecast} if forecast is not None else {}),
    }


def _applied(floor: float, source: str = "params.yaml gate.min_real_fraction") -> dict:
    return {
        "parameters": {"min_real_fraction": floor, "recorded_anchor_rows": 600, "expected_columns": ["x0", "x1"]},
        "sources": {"min_real_fraction": source, "recorded_anchor_rows": "ledger", "expected_columns": "anchor"},
        "suites": {"mixture": "f" * 64},
    }


def _workspace(tmp_path: Path, blocked_floor: float = 0.25, blocked_real: int = 200):
    """Generations 0-3 recorded (generation 0's gate entry without ``applied``: a ledger may hold such entries)
    and generation 4 blocked under ``blocked_floor``."""
    write_params(tmp_path)
    params = load_params(tmp_path / "params.yaml")
    forecast = params.forecast.model_dump()
    path = params.ledger_path
    ledger.append(path, "anchor_initialised", {"anchor": {"rows": 600, "digest": "d" * 64, "dvc_md5": "m" * 32}})
    for generation, tail in enumerate([0.95, 0.85, 0.75, 0.65]):
        synthetic = 140 * generation
        mixture = {
            "policy": "accumulate",
            "rows": 480 + synthetic,
            "real": 480,
            "synthetic": synthetic,
            "real_fraction": 480 / (480 + synthetic),
        }
        ledger.append(
            path,
            "gate_verdict",
            {
                "generation": generation,
                "verdict": "passed",
                "failures": [],
                "mixture": mixture,
                "mlflow_run_id": f"run{generation}",
                **({"applied": _applied(0.25)} if generation else {}),
            },
        )
        ledger.append(path, "generation_recorded", _recorded(generation, tail, 480, synthetic, forecast))
        role = "champion" if generation < 2 else "candidate"
        ledger.append(
            path,
            "model_promoted" if role == "champion" else "promotion_refused",
            {
                "generation": generation,
                "version": str(generation + 1),
                "role": role,
                "reasons": ["tail_coverage fell"],
                "by": "check",
                "applied": {
                    "parameters": {"tail_drop": 0.1} if generation else {},
                    "sources": {"tail_drop": "params.yaml promotion.tail_drop"} if generation else {},
                    "suites": {"promotion": "c" * 64} if generation else {},
                },
            },
        )
    real_fraction = blocked_real / 1000
    blocked = {
        "policy": "accumulate",
        "rows": 1000,
        "real": blocked_real,
        "synthetic": 1000 - blocked_real,
        "real_fraction": real_fraction,
    }
    ledger.append(
        path,
        "gate_verdict",
        {
            "generation": 4,
            "verdict": "blocked",
            "failures": [f"[mixture] real fraction {real_fraction:.2f} < {blocked_floor:g}"],
            "mixture": blocked,
            "anchor_observed": {"rows": 640, "digest": "e" * 64, "dvc_md5": ""},
            "applied": _applied(blocked_floor),
        },
    )
    alerts.send(
        params.alerts,
        alerts.Alert(alerts.GATE_BLOCKED, 4, "real fraction 0.20 < 0.25", "gate.json"),
        alerts.journal_path(path),
    )
    return params


def test_the_view_answers_what_the_champion_was_trained_on_and_whether_each_step_was_gated(tmp_path: Path):
    params = _workspace(tmp_path)
    view = audit_page.gather(params, ledger.verify(params.ledger_path), LABELS)
    assert view.verification.ok and "verified: 14 ledger entries" in view.verification.headline
    assert [g.generation for g in view.generations] == [0, 1, 2, 3, 4]
    assert view.champion == 1
    assert [g.promotion for g in view.generations] == ["former champion", "champion", "candidate", "candidate", ""]
    assert [g.gate for g in view.generations] == ["passed"] * 4 + ["blocked"]
    assert view.generations[4].status == "blocked" and "0.20 < 0.25" in view.generations[4].gate_failures[0]
    assert view.generations[3].curation == {"duplicate": 6, "anchor_copy": 4}
    # no mixture file on disk: the ledger's real/synthetic counts stand in for the origins
    assert view.generations[3].composition == {"real": 480, "synthetic": 420}
    assert {g.signature for g in view.generations} == {"unsigned"}
    assert [f.metric for f in view.forecasts] == ["tail_coverage"] and view.forecasts[0].generations_until == 2
    assert [a["event"] for a in view.alerts] == [alerts.GATE_BLOCKED]
    json.dumps(view.to_dict(), default=str)  # the --json output


def test_the_page_is_self_contained_and_names_the_broken_line(tmp_path: Path):
    params = _workspace(tmp_path)
    page = tmp_path / "reports" / "audit.html"
    html = audit_page.render(audit_page.gather(params, [], LABELS), page)
    assert 'class="banner ok"' in html
    # nothing to fetch: no script, no stylesheet or image from elsewhere, no link that leaves the workspace
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert re.findall(r'(?:src|href)="([a-z]+:[^"]*)"', html) == []
    assert html.count("<svg") >= 3  # lineage, composition, metrics
    assert (
        "mixture composition by generation of origin" in html and "real fraction vs the floor each gate applied" in html
    )
    assert "gen001-abc" in html and "former champion" in html
    assert "<td>its own trend</td>" in html  # the forecast table says which line the crossing comes from

    lines = params.ledger_path.read_text().splitlines()
    edited = json.loads(lines[5])
    edited["body"]["metrics"]["tail_coverage"] = 0.99  # a reviewer's worst case: a metric quietly improved
    lines[5] = json.dumps(edited, sort_keys=True)
    params.ledger_path.write_text("\n".join(lines) + "\n")
    problems = ledger.verify(params.ledger_path)
    view = audit_page.gather(params, problems, LABELS)
    assert not view.verification.ok and view.verification.broken_lines == [6]
    html = audit_page.render(view, page)
    assert 'class="banner broken"' in html and "Broken entry: ledger line 6" in html
    assert "line 6: content does not match its hash" in html


def test_an_unreadable_ledger_line_is_a_red_page_not_a_crash(tmp_path: Path):
    params = _workspace(tmp_path)
    with params.ledger_path.open("a") as handle:
        handle.write("{not json\n")
    view = audit_page.gather(params, ledger.verify(params.ledger_path), LABELS)
    assert not view.verification.ok and 15 in view.verification.broken_lines
    assert "does NOT verify" in audit_page.render(view, tmp_path / "audit.html")


def test_audit_report_and_the_run_summary_from_the_command_line(tmp_path: Path, capsys):
    from typer.testing import CliRunner

    from collapse_guard.cli import app
    from collapse_guard.cli.retraining import summarise as _summarise

    params = _workspace(tmp_path)
    out = tmp_path / "elsewhere" / "page.html"
    result = CliRunner().invoke(app, ["audit", "report", "--out", str(out), "--json", "--params", params.source_file])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["page"] == str(out) and summary["verified"] and summary["champion"] == 1
    assert 'href="../generations/' not in out.read_text()  # no generation files here, so no dead links

    _summarise(params, [], as_json=True)  # `run`'s summary carries the forecast
    forecast = json.loads(capsys.readouterr().out)["forecast"]
    assert [f["metric"] for f in forecast] == ["tail_coverage"] and forecast[0]["generations_until"] == 2
    assert forecast[0]["basis"] == "trend"  # no held-out loss in this ledger: no lead

    params.ledger_path.write_text(
        params.ledger_path.read_text().replace('"tail_coverage": 0.85', '"tail_coverage": 0.99')
    )
    result = CliRunner().invoke(app, ["audit", "report", "--out", str(out), "--params", params.source_file])
    assert result.exit_code == 7 and "Broken entry: ledger line 6" in out.read_text()


def test_a_page_that_cannot_be_written_is_a_named_cause_not_a_traceback(tmp_path: Path):
    from typer.testing import CliRunner

    from collapse_guard.cli import app

    params = _workspace(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "a-file" / "audit.html"
    result = CliRunner().invoke(app, ["audit", "report", "--out", str(out), "--params", params.source_file])
    assert result.exit_code == 10 and result.exception is not None and "Traceback" not in result.output
    assert "cannot write the audit page" in result.output and str(out) in result.output
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_a_missing_ledger_is_never_an_intact_trail(tmp_path: Path):
    """A reviewer pointed at the wrong folder, or at a workspace whose ledger was deleted, must not get a green
    "0 entries, intact"."""
    from typer.testing import CliRunner

    from collapse_guard.cli import app
    from tests.conftest import write_params

    write_params(tmp_path)
    params_file = str(tmp_path / "params.yaml")
    for command in (["audit", "verify"], ["audit", "report"]):
        result = CliRunner().invoke(app, [*command, "--params", params_file])
        assert result.exit_code == 2 and "nothing has been recorded here" in result.output, result.output
    anchor = tmp_path / "data" / "anchor" / "real.parquet"
    anchor.parent.mkdir(parents=True)
    anchor.write_bytes(b"an anchor whose ledger was deleted")
    result = CliRunner().invoke(app, ["audit", "verify", "--params", params_file])
    assert result.exit_code == 7 and "the ledger is missing but the anchor exists" in result.output


def test_a_crossing_forecast_from_the_lead_is_named_on_the_page(tmp_path: Path):
    params = _workspace(tmp_path)
    view = audit_page.gather(params, [], LABELS)
    history = [(g, {"tail_coverage": 0.9, "heldout_real_loss": 3.0 + 0.1 * g}) for g in range(6)]
    view.forecasts = for_history(history, params.forecast)  # params.yaml's lead: tail_coverage <- held-out loss
    assert view.forecasts[0].basis == "lead: heldout_real_loss"
    html = audit_page.render(view, tmp_path / "audit.html")
    assert "<td>heldout_real_loss toward 3.693</td>" in html


def test_each_generation_is_drawn_against_the_floor_its_gate_applied_not_todays(tmp_path: Path):
    """Generation 4 was blocked under a 0.9 floor; params.yaml says 0.25 today. The page shows 0.9 for it and flags
    its real fraction 0.64; generation 0's entry recorded no floor and says so instead of borrowing 0.25."""
    params = _workspace(tmp_path, blocked_floor=0.9, blocked_real=640)
    assert params.gate.min_real_fraction == 0.25
    view = audit_page.gather(params, [], LABELS)
    blocked = view.generations[4]
    assert blocked.floor == 0.9 and blocked.floor_source == "params.yaml gate.min_real_fraction"
    assert (blocked.anchor_rows, blocked.anchor_digest) == (640, "e" * 64)  # the anchor it observed
    assert [g.floor for g in view.generations] == [None, 0.25, 0.25, 0.25, 0.9]
    html = audit_page.render(view, tmp_path / "audit.html")
    rows = re.findall(r"<tr class=[^>]*>(.*?)</tr>", html.split('id="generations"')[1].split("</table>")[0], re.S)
    assert '<td class="num blocked">0.640</td>' in rows[4] and ">0.9</td>" in rows[4]
    assert "anchor observed: 640 rows" in html and "anchor: ? rows" not in html
    assert "floor not recorded" in rows[0] and 'class="num blocked"' not in rows[0]
    assert "gate floor applied" in html  # the chart's floor line follows each generation's floor
    assert "min_real_fraction = 0.9  (params.yaml gate.min_real_fraction)" in html
    promotions = html.split('id="promotions"')[1].split("</table>")[0]
    assert "tail_drop = 0.1  (params.yaml promotion.tail_drop); suite promotion: sha256 cccccccccccccccc" in promotions


def test_the_forecast_uses_the_floors_recorded_with_the_last_generation(tmp_path: Path):
    params = _workspace(tmp_path)
    recorded = audit_page.gather(params, [], LABELS).forecasts
    write_params(tmp_path, forecast={"floors": {"tail_coverage": 0.1}})  # today's floor, after the runs
    view = audit_page.gather(load_params(tmp_path / "params.yaml"), [], LABELS)
    assert [f.floor for f in view.forecasts] == [0.5] and view.forecasts == recorded
    assert view.forecast_note == "floors as recorded with generation 3"

    lines = params.ledger_path.read_text().splitlines()
    unrecorded = tmp_path / "older"
    unrecorded.mkdir()
    write_params(unrecorded)
    older = load_params(unrecorded / "params.yaml")
    for line in lines:  # the same history, written before generations recorded their forecast settings
        entry = json.loads(line)
        entry["body"].pop("forecast_settings", None)
        ledger.append(older.ledger_path, entry["kind"], entry["body"])
    view = audit_page.gather(older, [], LABELS)
    assert view.forecasts == [] and view.forecast_note == "forecast floors not recorded for the last generation"
    assert "No forecast: forecast floors not recorded" in audit_page.render(view, unrecorded / "audit.html")


def test_audit_show_tells_a_blocked_generation_with_what_its_gate_applied(tmp_path: Path):
    from typer.testing import CliRunner

    from collapse_guard.cli import app

    params = _workspace(tmp_path, blocked_floor=0.9, blocked_real=640)
    shown = CliRunner().invoke(app, ["audit", "show", "-g", "4", "--params", params.source_file])
    assert shown.exit_code == 0, shown.output
    assert "generation 4  gate blocked" in shown.output
    assert "real fraction 0.640 against the floor 0.9 (params.yaml gate.min_real_fraction)" in shown.output
    assert "failed: [mixture] real fraction 0.64 < 0.9" in shown.output
    assert "anchor observed: 640 rows, digest " + "e" * 64 in shown.output
    assert "applied: suite mixture: sha256 ffffffffffffffff" in shown.output
    as_json = json.loads(
        CliRunner().invoke(app, ["audit", "show", "-g", "4", "--json", "--params", params.source_file]).stdout
    )
    assert as_json["status"] == "blocked" and as_json["lineage"] == []
    assert as_json["gate"]["applied"]["parameters"]["min_real_fraction"] == 0.9
    recorded = CliRunner().invoke(app, ["audit", "show", "-g", "1", "--params", params.source_file])
    assert "gate passed" in recorded.output and "against the floor 0.25" in recorded.output
    assert "model gen001-abc" in recorded.output and "model gen000-abc" in recorded.output
    old = CliRunner().invoke(app, ["audit", "show", "-g", "0", "--params", params.source_file])
    assert "real fraction 1.000 (floor not recorded)" in old.output
    missing = CliRunner().invoke(app, ["audit", "show", "-g", "9", "--params", params.source_file])
    assert missing.exit_code == 3 and "no recorded generation 9" in missing.output
