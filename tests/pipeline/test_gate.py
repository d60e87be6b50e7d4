"""The gate on real GX validations of the suites in expectations/ (no Prefect needed)."""

import numpy as np
import pandas as pd
import pytest

from collapse_guard.pipeline import gate
from collapse_guard.pipeline.mixing import FILE_COLUMN, Accumulate, MixContext
from collapse_guard.records import anchor
from collapse_guard.records.provenance import feature_columns, stamp_real
from collapse_guard.tabular.column_kinds import column_kinds, kind_flags
from collapse_guard.tabular.curation import curate
from collapse_guard.tabular.default_data import sample_default
from tests.conftest import REPO

SUITES = REPO / "expectations"


@pytest.fixture(scope="module")
def clean():
    real = stamp_real(sample_default(300, 0.025, np.random.default_rng(0)), origin="t")
    real[FILE_COLUMN] = "data/anchor/real.parquet"
    pool, _ = curate(
        sample_default(100, 0.025, np.random.default_rng(1)),
        real.drop(columns=FILE_COLUMN),
        generation=1,
        model_id="gen000-abc",
        run_id="run",
    )
    pool[FILE_COLUMN] = "generations/gen_001/synthetic.parquet"
    return real.drop(columns=FILE_COLUMN), Accumulate().mix(real, [pool], MixContext(np.random.default_rng(0))).frame


def run_gate(anchor_frame, mixture, recorded=None, min_real_fraction=0.5, **inclusion):
    return gate.evaluate(
        anchor=anchor_frame,
        mixture=mixture,
        recorded_anchor=recorded,
        min_real_fraction=min_real_fraction,
        expectations_dir=SUITES,
        anchor_path="data/anchor/real.parquet",
        extra_flags=kind_flags(column_kinds(anchor_frame[feature_columns(anchor_frame)])),
        **inclusion,
    )


def messages(verdict):
    return "\n".join(str(f) for f in verdict.failures)


def test_a_clean_mixture_passes(clean):
    real, mixture = clean
    verdict = run_gate(real, mixture, anchor.describe(real))
    assert verdict.passed, messages(verdict)
    assert set(verdict.results) == {"anchor", "inclusion", "mixture", "provenance", "types"}


def test_missing_provenance_is_blocked_and_the_file_named(clean):
    real, mixture = clean
    bad = mixture.copy()
    bad.loc[bad.index[-1], "model_id"] = None
    verdict = run_gate(real, bad)
    assert not verdict.passed
    assert "records without a 'model_id': 1 of 400" in messages(verdict)
    assert "generations/gen_001/synthetic.parquet" in messages(verdict)


def test_a_shrunk_anchor_is_blocked(clean):
    real, mixture = clean
    recorded = anchor.describe(real)
    shrunk = real.drop(index=5).reset_index(drop=True)
    text = messages(run_gate(shrunk, mixture, recorded))
    assert "the anchor has 299 rows, fewer than the 300 the pipeline last recorded: it shrank" in text
    assert "299 rows, fewer than the 300" in text


def test_real_fraction_below_the_floor_is_blocked(clean):
    real, mixture = clean
    verdict = run_gate(real, mixture, min_real_fraction=0.9)
    assert [f.check for f in verdict.failures] == ["expect_column_values_to_be_in_set"]
    assert "real fraction 0.75 is below the floor 0.90 (gate.min_real_fraction)" in messages(verdict)


def test_a_verdict_keeps_the_values_it_filled_and_the_digest_of_each_suite_it_ran(clean):
    import hashlib
    import json

    real, mixture = clean
    verdict = run_gate(real, mixture, min_real_fraction=0.9)
    assert verdict.parameters["min_real_fraction"] == 0.9 and verdict.parameters["recorded_anchor_rows"] == 0
    assert verdict.parameters["expected_columns"][-1] == FILE_COLUMN
    by_name = {json.loads(p.read_text()).get("name", p.stem): p for p in SUITES.glob("*.json")}
    assert set(verdict.suites) == set(verdict.results)
    for name, digest in verdict.suites.items():
        assert digest == hashlib.sha256(by_name[name].read_bytes()).hexdigest()


def test_a_mixture_must_keep_the_anchors_training_split_unless_the_policy_samples_it(clean):
    real, mixture = clean
    held_out = anchor.holdout_mask(real, 0.2)
    train_only = mixture[~mixture["record_id"].isin(real["record_id"][held_out])].reset_index(drop=True)
    assert run_gate(real, train_only, held_out=held_out).passed  # held-out records are neither missing nor wanted
    thinned = train_only.drop(index=[0, 1, 2]).reset_index(drop=True)
    text = messages(run_gate(real, thinned, held_out=held_out))
    assert f"anchor records missing from the mixture: 3 of {int((~held_out).sum())} training records" in text
    assert run_gate(real, thinned, held_out=held_out, min_anchor_share=0.0).passed  # accumulate-subsample's floor
    leaked = messages(run_gate(real, mixture, held_out=held_out))
    assert f"held-out anchor records in the mixture, which must never be trained on: {int(held_out.sum())}" in leaked


def test_nan_in_features_is_blocked(clean):
    real, mixture = clean
    bad = mixture.copy()
    bad.loc[bad.index[-2], "x1"] = np.nan
    assert "records with NaN or infinity in a feature: 1 of 400" in messages(run_gate(real, bad))


def test_a_schema_mismatch_is_blocked(clean):
    real, mixture = clean
    bad = mixture.assign(extra=1.0)
    assert "the mixture's columns are not the anchor's (not expected: 'extra')" in messages(run_gate(real, bad))


def test_an_edited_value_breaks_its_record_id(clean):
    real, mixture = clean
    bad = mixture.copy()
    bad.loc[3, "x0"] += 1.0
    assert "records edited since they were stamped (the record id no longer matches the values): 1" in messages(
        run_gate(real, bad)
    )


def test_every_suite_file_is_valid_json_with_a_target_and_plain_descriptions():
    suites = gate.load_suites(SUITES)
    for suite in suites.values():
        assert suite["_applies_to"] in gate.FRAMES
        assert all(e["meta"]["description"] for e in suite["expectations"])


def test_gate_frames_are_not_modified(clean):
    real, mixture = clean
    before = mixture.copy()
    run_gate(real, mixture)
    pd.testing.assert_frame_equal(mixture, before)


def test_each_suite_result_holds_every_expectation_once(clean):
    real, mixture = clean
    verdict = run_gate(real, mixture, anchor.describe(real))
    for name, suite in gate.load_suites(SUITES).items():
        if name not in verdict.results:
            continue
        result = verdict.results[name]
        assert sorted(r["expectation_config"]["type"] for r in result["results"]) == sorted(
            e["type"] for e in suite["expectations"]
        )
        assert result["statistics"]["evaluated_expectations"] == len(suite["expectations"]) and result["success"]


def test_an_expectation_reads_its_named_columns_or_every_column():
    condition = {"type": "comparison", "column": {"name": "source"}, "operator": "==", "parameter": "real"}
    assert gate.columns_read({"type": "expect_column_values_to_be_between", "kwargs": {"column": "generation"}}) == {
        "generation"
    }
    assert gate.columns_read(
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "generation", "row_condition": condition}}
    ) == {"generation", "source"}
    either = {"type": "or", "conditions": [condition, {**condition, "column": {"name": "origin"}, "parameter": ["a"]}]}
    assert gate.columns_read(
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "model_id", "row_condition": either}}
    ) == {"model_id", "source", "origin"}
    assert gate.columns_read({"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}) == set()
    unknown = [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": {"$PARAMETER": "c"}}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "a", "row_condition": 'source=="x"'}},
        {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {}},
    ]
    assert [gate.columns_read(e) for e in unknown] == [None, None, None]
