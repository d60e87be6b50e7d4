"""``evaluation.drift_report``: the page, Evidently's values only, or no file; the same numbers in every mode."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from collapse_guard.config import EvaluationParams
from collapse_guard.records.workspace import GenerationPaths
from collapse_guard.tabular.evidently_metrics import drift_report


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=400), "y": rng.normal(size=400), "k": rng.integers(0, 4, 400)})
    # x drifts, y does not, k (discrete) shifts its frequencies
    samples = pd.DataFrame({"x": rng.normal(0.8, 1, size=400), "y": rng.normal(size=400), "k": rng.integers(1, 5, 400)})
    return samples, reference


@pytest.fixture(scope="module")
def reports(frames, tmp_path_factory) -> dict:
    samples, reference = frames
    made = {}
    for mode in ("html", "summary", "off"):
        paths = GenerationPaths(tmp_path_factory.mktemp(mode))
        summary = drift_report(samples, reference, paths.drift_html, EvaluationParams(drift_report=mode))
        made[mode] = (paths, summary)
    return made


def test_each_mode_writes_its_file_only(reports):
    html, summary, off = (reports[m][0] for m in ("html", "summary", "off"))
    assert html.drift_html.exists() and html.drift_json.exists()  # the page, and the same report as data
    assert "<html" in html.drift_html.read_text().lower()
    assert summary.drift_json.exists() and not summary.drift_html.exists()
    assert off.drift_report() is None and not any(off.dir.iterdir())
    assert html.drift_report() == html.drift_html and summary.drift_report() == summary.drift_json


def test_the_numbers_are_evidentlys_and_the_same_in_every_mode(reports):
    numbers = {mode: summary.to_dict() for mode, (_, summary) in reports.items()}
    assert numbers["html"] == numbers["summary"] == numbers["off"]
    found = numbers["html"]
    assert found["drift_columns_checked"] == 3
    assert found["column_scores"]["x"] < 0.05 < found["column_scores"]["y"]  # KS p-values: x drifted, y did not
    assert 0 < found["drift_share"] < 1 and found["drifted_columns"] == round(found["drift_share"] * 3)
    written = json.loads(reports["summary"][0].drift_json.read_text())["metrics"]
    drift_scores = {m["config"]["column"]: m["value"] for m in written if m["metric_name"].startswith("ValueDrift")}
    assert drift_scores == pytest.approx(found["column_scores"])


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="drift_report"):
        EvaluationParams(drift_report="pdf")
