import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.errors import DataError
from collapse_guard.records import anchor
from collapse_guard.records.provenance import provenance_flags, stamp_real, stamp_synthetic
from collapse_guard.tabular.default_data import sample_default


def make_anchor(n: int = 200, seed: int = 0) -> pd.DataFrame:
    return stamp_real(sample_default(n, 0.025, np.random.default_rng(seed)), origin="test")


def test_growth_passes_and_every_kind_of_shrink_or_edit_fails():
    base = make_anchor()
    recorded = anchor.describe(base)
    grown, added = anchor.append(base, make_anchor(20, seed=1))
    assert added == 20
    assert anchor.check_append_only(grown, recorded, "a.parquet") == []
    removed = base.drop(index=17).reset_index(drop=True)
    assert "fewer than the 200" in anchor.check_append_only(removed, recorded, "a.parquet")[0]
    reordered = base.iloc[::-1].reset_index(drop=True)
    assert "differ" in anchor.check_append_only(reordered, recorded, "a.parquet")[0]
    edited = base.copy()
    edited.loc[5, "record_id"] = "0" * 64
    assert "a.parquet" in anchor.check_append_only(edited, recorded, "a.parquet")[0]


def test_append_keeps_records_equal_to_existing_ones_unless_told_otherwise_and_refuses_synthetic():
    base = make_anchor()
    again = stamp_real(base.head(10)[["x0", "x1"]], origin="again")
    grown, added = anchor.append(base, again)
    assert added == 10 and len(grown) == len(base) + 10
    assert grown["record_id"].is_unique and provenance_flags(grown)["_record_id_matches_payload"].all()
    assert anchor.repeats_of(base, again).sum() == 10
    kept, added = anchor.append(base, again, keep_repeated=False)
    assert added == 0 and len(kept) == len(base)
    synthetic = stamp_synthetic(
        sample_default(5, 0.025, np.random.default_rng(3)), generation=1, model_id="m", run_id="r"
    )
    with pytest.raises(Exception, match="only real records"):
        anchor.append(base, synthetic)


@settings(max_examples=25, deadline=None)
@given(st.integers(50, 400), st.integers(1, 200), st.floats(0.05, 0.5))
def test_holdout_membership_is_stable_as_the_anchor_grows(n, extra, fraction):
    base = make_anchor(n, seed=n)
    grown, _ = anchor.append(base, make_anchor(extra, seed=n + 10_000))
    before = anchor.holdout_mask(base, fraction)
    after = anchor.holdout_mask(grown, fraction)
    assert (after[: len(base)] == before).all()


def test_holdout_fraction_is_respected_on_average():
    frame = make_anchor(4000)
    assert abs(anchor.holdout_mask(frame, 0.2).mean() - 0.2) < 0.03


def test_corrupt_and_incomplete_files_raise_data_errors_naming_the_file(tmp_path):
    corrupt = tmp_path / "bad.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="bad.parquet"):
        anchor.read_records(corrupt)
    features_only = tmp_path / "features.parquet"
    sample_default(10, 0.025, np.random.default_rng(0)).to_parquet(features_only)
    with pytest.raises(DataError, match="lacks provenance"):
        anchor.load(features_only)
    with pytest.raises(DataError, match="not found"):
        anchor.read_records(tmp_path / "missing.parquet")


def test_user_data_without_provenance_is_stamped_real():
    stamped = anchor.as_real_records(pd.DataFrame({"a": [1.0, 2.0]}), origin="mine.csv")
    assert (stamped["source"] == "real").all() and (stamped["origin"] == "mine.csv").all()
    with pytest.raises(DataError, match="only part"):
        anchor.as_real_records(pd.DataFrame({"a": [1.0], "source": ["real"]}), origin="half.csv")


def test_a_table_with_repeated_rows_is_an_anchor_the_gate_accepts_and_that_grows():
    """Two respondents with the same answers are two records: unique ids, each still bound to its values."""
    rows = pd.DataFrame({"rating": [3, 3, 3, 5, 1, 5], "region": ["n", "n", "n", "s", "e", "s"]})
    first = stamp_real(rows, origin="survey.csv")
    assert first["record_id"].is_unique
    assert first["record_id"].str.len().eq(64).all()
    assert provenance_flags(first)["_record_id_matches_payload"].all()
    grown, added = anchor.append(first, stamp_real(rows.head(2), origin="more.csv"))
    assert added == 2 and grown["record_id"].is_unique
    assert grown["record_id"].iloc[-2:].str.slice(56).tolist() == ["00000003", "00000004"]
    same_split = anchor.holdout_mask(grown, 0.5)
    assert len(set(same_split[[0, 1, 2, 6, 7]])) == 1  # equal records fall on one side of the held-out split
    edited = grown.copy()
    edited.loc[7, "rating"] = 4
    assert provenance_flags(edited)["_record_id_matches_payload"].tolist() == [True] * 7 + [False]
