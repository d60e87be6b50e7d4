"""What the record-keeping writes, built without Prefect, MLflow or a ledger file."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from collapse_guard.config import ForecastParams, PromotionParams
from collapse_guard.modality.base import CurationReport
from collapse_guard.pipeline import gate, payloads, promotion
from collapse_guard.pipeline.gate import GateFailure, GateVerdict
from collapse_guard.pipeline.mixing import MixtureSummary
from collapse_guard.pipeline.promotion import Decision
from collapse_guard.records.anchor import AnchorRecord

SUMMARY = MixtureSummary(policy="accumulate", rows=120, real=90, synthetic=30, real_fraction=0.75)
CURATION = CurationReport(generated=40, kept=30, dropped={"invalid": 4, "duplicate": 6})
ANCHOR = AnchorRecord(rows=100, digest="d" * 64, dvc_md5="m" * 32)
APPLIED = {"min_real_fraction": 0.9, "recorded_anchor_rows": 100, "expected_columns": ["x0", "x1", "_file"]}
SUITES = {"mixture": "a" * 64, "anchor": "b" * 64}
BLOCKED = GateVerdict(
    False,
    [GateFailure("mixture", "expect_x", "the real fraction is low", ["gen.parquet"])],
    {},
    parameters=APPLIED,
    suites=SUITES,
)


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


def test_the_gate_entry_records_the_verdict_the_failures_and_the_observed_anchor():
    entry = payloads.gate_entry(
        run_uuid="r",
        generation=3,
        verdict=BLOCKED,
        anchor_observed=ANCHOR,
        summary=SUMMARY,
        mlflow_run_id="m",
        sources=gate.CORE_SOURCES,
    )
    assert entry["verdict"] == "blocked" and entry["generation"] == 3
    assert entry["failures"] == ["[mixture] the real fraction is low (in gen.parquet)"]
    assert entry["anchor_observed"] == {"rows": 100, "digest": "d" * 64, "dvc_md5": "m" * 32}
    assert entry["mixture"]["real_fraction"] == 0.75
    json.dumps(entry)  # a ledger body must be plain JSON


def test_the_gate_entry_records_every_threshold_it_applied_where_it_came_from_and_the_suites():
    entry = payloads.gate_entry(
        run_uuid="r",
        generation=3,
        verdict=BLOCKED,
        anchor_observed=ANCHOR,
        summary=SUMMARY,
        mlflow_run_id="m",
        sources={**gate.CORE_SOURCES, "min_real_fraction": "an automatic floor"},  # a caller may name its own
    )
    applied = entry["applied"]
    assert set(applied) == {"parameters", "sources", "suites"}
    assert applied["parameters"] == APPLIED and applied["suites"] == SUITES
    assert applied["sources"]["min_real_fraction"] == "an automatic floor"
    assert applied["sources"]["recorded_anchor_rows"] == gate.CORE_SOURCES["recorded_anchor_rows"]
    assert json.loads(json.dumps(entry))["applied"] == applied


def test_every_core_gate_parameter_has_a_named_source():
    assert set(gate.CORE_SOURCES) == set(gate.CORE_PARAMETERS)
    assert set(promotion.SOURCES) == set(gate.PROMOTION_PARAMETERS)


def test_a_parameter_without_a_named_source_says_so_rather_than_guessing():
    applied = payloads.applied({"min_real_fraction": 0.5, "new_threshold": 3}, gate.CORE_SOURCES, {})
    assert applied["sources"] == {
        "min_real_fraction": "params.yaml gate.min_real_fraction",
        "new_threshold": payloads.UNNAMED_SOURCE,
    }


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(10**9), 10**9),
            st.lists(st.text(max_size=5), max_size=4),
            st.builds(np.float64, st.floats(-1e6, 1e6)),
            st.builds(np.int64, st.integers(-(10**6), 10**6)),
        ),
        max_size=6,
    )
)
def test_applied_parameters_are_plain_json_with_the_values_used(parameters):
    applied = payloads.applied(parameters, {}, {"s": "c" * 64})
    again = json.loads(json.dumps(applied, allow_nan=False))
    assert set(again["parameters"]) == set(parameters) == set(again["sources"])
    for name, value in parameters.items():
        assert again["parameters"][name] == (value.item() if isinstance(value, np.generic) else value)


def test_promotion_entries_record_the_tolerances_and_suite_they_applied():
    tolerances = promotion.tolerances(PromotionParams(tail_drop=0.2))
    refused = Decision(False, ["tail fell"], parameters=tolerances, suites={"promotion": "e" * 64})
    kind, body = payloads.promotion_entry(
        generation=2,
        model_id="g2",
        registered_model="cg",
        version="3",
        decision=refused,
        champion_before="1",
        sources=promotion.SOURCES,
    )
    assert kind == "promotion_refused" and body["role"] == "candidate" and body["reasons"] == ["tail fell"]
    assert body["applied"]["parameters"]["tail_drop"] == 0.2
    assert body["applied"]["sources"]["tail_drop"] == "params.yaml promotion.tail_drop"
    assert body["applied"]["suites"] == {"promotion": "e" * 64}
    kind, body = payloads.promotion_entry(
        generation=0,
        model_id="g0",
        registered_model="cg",
        version="1",
        decision=Decision(True, ["no champion yet"]),
        champion_before=None,
        sources=promotion.SOURCES,
    )
    # nothing was compared: nothing is claimed to have been applied
    assert kind == "model_promoted" and body["applied"] == {"parameters": {}, "sources": {}, "suites": {}}
    json.dumps(body)


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
        forecast_settings=ForecastParams(floors={"tail_coverage": 0.6}).model_dump(),
    )
    assert entry["parent_model_id"] == "gen001-def" and entry["anchor"]["dvc_md5"] == "m" * 32
    assert ForecastParams.model_validate(entry["forecast_settings"]).floors == {"tail_coverage": 0.6}
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
    assert set(payloads.run_reports([])) == {"last_run.json", "metrics_by_generation.json"}


def test_the_series_dvc_plots_has_one_row_per_recorded_generation_the_last_record_winning():
    def recorded(generation: int, tail: float, real: float) -> dict:
        body = {"generation": generation, "mixture": {"real_fraction": real}, "anchor": {"rows": 100}}
        return {"kind": "generation_recorded", "body": {**body, "metrics": {"tail_coverage": tail, "note": "x"}}}

    entries = [
        recorded(1, 0.9, 0.8),
        {"kind": "gate_verdict", "body": {}},
        recorded(0, 1.0, 1.0),
        recorded(1, 0.7, 0.6),
    ]
    assert payloads.generation_series(entries) == [
        {"generation": 0, "real_fraction": 1.0, "anchor_rows": 100, "tail_coverage": 1.0},
        {"generation": 1, "real_fraction": 0.6, "anchor_rows": 100, "tail_coverage": 0.7},
    ]


def test_generation_params_name_the_anchor_version_and_the_parent():
    params = payloads.generation_params(
        generation=1, policy="accumulate", anchor=ANCHOR, seed=7, model_id="a", parent_model_id="b", decoding="{}"
    )
    assert params["anchor_dvc_md5"] == "m" * 32 and params["anchor_digest"] == "d" * 64
    assert params["parent_model_id"] == "b" and params["seed"] == 7
