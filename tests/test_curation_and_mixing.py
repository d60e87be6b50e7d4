import numpy as np
import pandas as pd
import pytest

from collapse_guard.curation import curate
from collapse_guard.default_data import sample_default
from collapse_guard.errors import DataError
from collapse_guard.mixing import Accumulate, Replace, summarise
from collapse_guard.provenance import stamp_real


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
    assert (report.dropped_duplicate, report.dropped_invalid, report.dropped_anchor_copy) == (1, 2, 1)
    assert report.kept == len(kept) == 6
    assert kept["record_id"].is_unique and not kept["record_id"].isin(real["record_id"]).any()
    assert (kept["source"] == "synthetic").all() and (kept["model_id"] == "m").all()


def test_curation_refuses_a_model_that_changed_the_schema(real):
    with pytest.raises(DataError, match="columns"):
        curate(pd.DataFrame({"x0": [1.0]}), real, generation=1, model_id="m", run_id="r")


def test_accumulate_keeps_everything_and_replace_keeps_only_the_newest(real):
    pools = [
        curate(sample_default(30, 0.025, np.random.default_rng(s)), real, generation=s, model_id="m", run_id="r")[0]
        for s in (1, 2)
    ]
    accumulated = Accumulate().mix(real, pools)
    assert len(accumulated) == 160
    assert summarise(accumulated, "accumulate").real_fraction == pytest.approx(100 / 160)
    replaced = Replace().mix(real, pools)
    assert len(replaced) == 30 and (replaced["generation"] == 2).all()
    assert summarise(replaced, "replace").real_fraction == 0.0
    assert len(Replace().mix(real, [])) == 100  # generation 0 trains on real data under every policy
