"""The Evidently report, for real: drift plus the collapse metrics as Evidently metrics."""

import json

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from collapse_guard.config import EvaluationParams
from collapse_guard.reports.drift import report_json_path, report_values
from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.evidently_metrics import ANCHOR_HALVES, drift_columns, drift_report


def test_report_flags_a_collapsed_model_and_not_a_healthy_one(tmp_path):
    rng = np.random.default_rng(0)
    reference = sample_default(3000, 0.025, rng)
    healthy = drift_report(sample_default(3000, 0.025, rng), reference, tmp_path / "healthy.html")
    collapsed = drift_report(sample_default(3000, 0.0, rng) * 0.7, reference, tmp_path / "collapsed.html")
    assert healthy.drift_share == 0.0 and collapsed.drift_share == 1.0
    assert abs(healthy.estimates[ANCHOR_HALVES] - 1.0) < 0.2 and collapsed.estimates[ANCHOR_HALVES] < 0.1
    html = (tmp_path / "collapsed.html").read_text()
    assert f"{ANCHOR_HALVES}: tail coverage within the anchor" in html  # its own name, and how it differs
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temp file left behind


def test_the_report_shows_the_evaluations_numbers_under_their_names_and_its_own_under_another(tmp_path):
    """One name, one number: the report does not recompute ``tail_coverage`` another way; the JSON beside the
    HTML holds each recorded value under its name, and the report's own estimate under its own name."""
    rng = np.random.default_rng(2)
    reference = sample_default(1200, 0.025, rng)
    recorded = {"tail_coverage": 0.8512, "variance_ratio": 0.97, "heldout_real_loss": float("nan")}
    summary = drift_report(sample_default(1200, 0.025, rng), reference, tmp_path / "drift.html", recorded=recorded)
    values = report_values(json.loads(report_json_path(tmp_path / "drift.html").read_text()))
    assert values["tail_coverage"] == 0.8512 and values["variance_ratio"] == 0.97
    assert np.isnan(values["heldout_real_loss"])
    assert values["drift_share"] == summary.drift_share
    assert values[ANCHOR_HALVES] == summary.estimates[ANCHOR_HALVES] != recorded["tail_coverage"]
    assert set(values) == {*recorded, "drift_share", ANCHOR_HALVES}
    html = (tmp_path / "drift.html").read_text()
    assert "tail_coverage (the evaluation" in html and "as recorded in the ledger and MLflow" in html


def test_a_wide_tables_drift_covers_a_fixed_sample_of_its_columns(tmp_path):
    """500 columns made the first run sit in Evidently for minutes (a chart per column): a wide table's report
    covers ``max_drift_columns`` of them, and a table that drifted everywhere still reads as drifted."""
    rng = np.random.default_rng(1)
    columns = [f"c{i}" for i in range(40)]
    reference = pd.DataFrame(rng.normal(size=(600, 40)), columns=columns)
    shifted = pd.DataFrame(rng.normal(loc=2.0, size=(600, 40)), columns=columns)
    summary = drift_report(shifted, reference, tmp_path / "wide.html", EvaluationParams(max_drift_columns=8))
    assert summary.drift_columns_checked == 8 and summary.drift_share == 1.0
    assert set(summary.column_scores) == set(drift_columns(columns, 8))


@given(st.integers(1, 60), st.integers(1, 80), st.randoms(use_true_random=False))
def test_the_sampled_columns_do_not_depend_on_column_order(limit, width, random):
    columns = [f"feature_{i}" for i in range(width)]
    shuffled = random.sample(columns, len(columns))
    chosen = drift_columns(columns, limit)
    assert len(chosen) == min(limit, width) and set(chosen) == set(drift_columns(shuffled, limit))
