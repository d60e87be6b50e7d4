"""Tabular curation: what is dropped before a synthetic batch may join a mixture, counted by reason."""

import numpy as np
import pandas as pd
import pytest

from collapse_guard.errors import DataError
from collapse_guard.records.provenance import stamp_real
from collapse_guard.tabular.curation import curate
from collapse_guard.tabular.default_data import sample_default


@pytest.fixture
def real():
    return stamp_real(sample_default(100, 0.025, np.random.default_rng(0)), origin="t")


def test_curation_drops_invalid_duplicates_and_anchor_copies_and_counts_them(real):
    raw = sample_default(10, 0.025, np.random.default_rng(1))
    raw.loc[1] = raw.loc[0]  # duplicate
    raw.loc[2, "x0"] = np.nan  # invalid
    raw.loc[3, "x1"] = np.inf  # invalid
    raw.loc[4] = real.loc[7, ["x0", "x1"]].to_numpy()  # copy of an anchor record
    kept, report = curate(raw, real, generation=1, model_id="m", run_id="r")
    assert (report.dropped["duplicate"], report.dropped["invalid"], report.dropped["anchor_copy"]) == (1, 2, 1)
    assert report.kept == len(kept) == 6
    assert kept["record_id"].is_unique and not kept["record_id"].isin(real["record_id"]).any()
    assert (kept["source"] == "synthetic").all() and (kept["model_id"] == "m").all()


def test_curation_refuses_a_model_that_changed_the_schema(real):
    with pytest.raises(DataError, match="columns"):
        curate(pd.DataFrame({"x0": [1.0]}), real, generation=1, model_id="m", run_id="r")


def test_near_copies_of_each_other_and_of_the_anchor_are_dropped_and_counted(real):
    raw = sample_default(50, 0.025, np.random.default_rng(4))
    scale = real[["x0", "x1"]].std().to_numpy()
    raw.loc[1] = raw.loc[0].to_numpy() + 0.001 * scale  # near-duplicate of row 0
    raw.loc[2] = real.loc[9, ["x0", "x1"]].to_numpy() + 0.002 * scale  # near-copy of an anchor record
    kept, report = curate(raw, real, generation=1, model_id="m", run_id="r", near_copy_radius=0.01)
    assert (report.dropped["near_duplicate"], report.dropped["near_anchor_copy"]) >= (1, 1)
    assert report.kept == len(kept) == 50 - report.dropped["near_duplicate"] - report.dropped["near_anchor_copy"]
    assert kept["x0"].isin([raw.loc[0, "x0"]]).any()  # the earlier of the pair stays
    exact_only = curate(raw, real, generation=1, model_id="m", run_id="r")[1]
    assert exact_only.dropped["near_duplicate"] == exact_only.dropped["near_anchor_copy"] == 0
