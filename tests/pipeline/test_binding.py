import pandas as pd

from collapse_guard.pipeline.binding import binding_failures


def _mixture() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": ["r1", "r2", "s1", "s2"],
            "source": ["real", "real", "synthetic", "synthetic"],
            "_file": ["data/anchor/real.parquet"] * 2 + ["generations/gen_001/synthetic.parquet"] * 2,
        }
    )


def test_bound_records_pass():
    assert binding_failures(_mixture(), ["r1", "r2", "r3"], ["s1", "s2"], "anchor") == []


def test_a_record_relabelled_real_is_named_with_its_file():
    mixture = _mixture()
    mixture.loc[2, "source"] = "real"  # a synthetic record laundered as real
    failures = binding_failures(mixture, ["r1", "r2"], ["s1", "s2"], "data/anchor/real.parquet")
    assert len(failures) == 1
    assert "labelled real" in failures[0].message and "records s1" in failures[0].message
    assert failures[0].files == ["generations/gen_001/synthetic.parquet"]


def test_a_synthetic_record_from_no_batch_is_named():
    failures = binding_failures(_mixture(), ["r1", "r2"], ["s1"], "anchor")
    assert len(failures) == 1 and "signed synthetic batch" in failures[0].message and "s2" in failures[0].message
