"""What the record-keeping writes, built without Prefect, MLflow or a ledger file."""

from __future__ import annotations

import json

from collapse_guard.modality.base import CurationReport
from collapse_guard.pipeline import payloads
from collapse_guard.pipeline.gate import GateFailure, GateVerdict
from collapse_guard.pipeline.mixing import MixtureSummary
from collapse_guard.records.anchor import AnchorRecord
from collapse_guard.records.gate_floor import AppliedFloor

SUMMARY = MixtureSummary(policy="accumulate", rows=120, real=90, synthetic=30, real_fraction=0.75)
CURATION = CurationReport(generated=40, kept=30, dropped={"invalid": 4, "duplicate": 6})
ANCHOR = AnchorRecord(rows=100, digest="d" * 64, dvc_md5="m" * 32)
BLOCKED = GateVerdict(False, [GateFailure("mixture", "expect_x", "the real fraction is low", ["gen.parquet"])], {})


def test_counts_are_the_mixture_rows_and_the_curation_counts_by_reason():
    assert payloads.counts(SUMMARY, CURATION) == {
        "mixture_rows": 120,
        "real": 90,
        "synthetic": 30,
        "generated": 40,
        "kept": 30,
        "dropped_invalid": 4,
        "dropped_duplicate": 6,
    }
    assert payloads.counts(SUMMARY, None) == {"mixture_rows": 120, "real": 90, "synthetic": 30}


def test_generation_metrics_put_the_collapse_metrics_last_so_they_win_a_name_clash():
    logged = payloads.generation_metrics(SUMMARY, 100, CURATION, {"tail_coverage": 0.9, "kept": -1.0})
    assert logged["real_fraction"] == 0.75 and logged["anchor_rows"] == 100 and logged["synthetic_count"] == 30
    assert logged["tail_coverage"] == 0.9 and logged["kept"] == -1.0
    assert "dropped_invalid" not in payloads.generation_metrics(SUMMARY, 100, None, {})


def test_the_gate_entry_records_the_verdict_the_failures_the_observed_anchor_and_the_floor_with_its_source():
    floor = AppliedFloor(0.4, "safe-zone certificate (ledger line 7): r* 0.35 + gate.auto_margin 0.05")
    entry = payloads.gate_entry(
        run_uuid="r",
        generation=3,
        verdict=BLOCKED,
        anchor_observed=ANCHOR,
        summary=SUMMARY,
        mlflow_run_id="m",
        floor=floor,
    )
    assert entry["applied"]["parameters"]["min_real_fraction"] == 0.4
    assert entry["applied"]["sources"]["min_real_fraction"] == floor.source
    assert entry["verdict"] == "blocked" and entry["generation"] == 3
    assert entry["failures"] == ["[mixture] the real fraction is low (in gen.parquet)"]
    assert entry["anchor_observed"] == {"rows": 100, "digest": "d" * 64, "dvc_md5": "m" * 32}
    assert entry["mixture"]["real_fraction"] == 0.75
    json.dumps(entry)  # a ledger body must be plain JSON


def test_the_generation_entry_answers_what_the_model_was_trained_on():
    entry = payloads.generation_entry(
        run_uuid="r",
        generation=2,
        model_id="gen002-abc",
        model_class="pkg.mod:Model",
        model_path="generations/gen_002/model.pt",
        parent_model_id="gen001-def",
        anchor=ANCHOR,
        summary=SUMMARY,
        mixture_file="generations/gen_002/mixture.parquet",
        mixture_digest="x" * 64,
        curation=CURATION,
        metrics={"tail_coverage": 0.8},
        dvc_md5="g" * 32,
        mlflow_run_id="m",
    )
    assert entry["parent_model_id"] == "gen001-def" and entry["anchor"]["dvc_md5"] == "m" * 32
    assert entry["mixture"]["file"].endswith("mixture.parquet") and entry["mixture"]["digest"] == "x" * 64
    assert entry["mixture"]["synthetic"] == 30 and entry["curation"]["dropped_duplicate"] == 6
    json.dumps(entry)


def test_outcomes_for_a_recorded_and_a_blocked_generation():
    recorded = payloads.recorded_outcome(
        2, SUMMARY, 100, CURATION, {"tail_coverage": 0.8}, mlflow_run_id="m", model_id="g", drift_report="d.html"
    )
    assert recorded.status == "recorded" and recorded.gate == {"passed": True, "failures": []}
    assert recorded.counts["kept"] == 30
    blocked = payloads.blocked_outcome(3, SUMMARY, 100, BLOCKED, "m")
    assert blocked.status == "blocked" and blocked.gate["failures"] == [str(BLOCKED.failures[0])]
    assert blocked.metrics == {} and blocked.model_id == ""


def test_run_reports_are_the_summary_and_the_latest_metrics():
    outcome = payloads.recorded_outcome(
        4, SUMMARY, 100, None, {"tail_coverage": 0.7}, mlflow_run_id="m", model_id="g", drift_report="d"
    )
    reports = payloads.run_reports([outcome])
    assert reports["last_run.json"]["generations"][0]["generation"] == 4
    assert reports["latest_metrics.json"] == {"generation": 4, "tail_coverage": 0.7, "real_fraction": 0.75}
    assert set(payloads.run_reports([])) == {"last_run.json"}


def test_generation_params_name_the_anchor_version_and_the_parent():
    params = payloads.generation_params(
        generation=1, policy="accumulate", anchor=ANCHOR, seed=7, model_id="a", parent_model_id="b", decoding="{}"
    )
    assert params["anchor_dvc_md5"] == "m" * 32 and params["anchor_digest"] == "d" * 64
    assert params["parent_model_id"] == "b" and params["seed"] == 7
