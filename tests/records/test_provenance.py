import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.records.provenance import (
    PROVENANCE_COLUMNS,
    content_hashes,
    feature_columns,
    ids_match_payload,
    occurrence_ids,
    provenance_flags,
    stamp_real,
    stamp_synthetic,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=30))
def test_record_id_depends_only_on_the_payload(rows):
    frame = pd.DataFrame(rows, columns=["a", "b"])
    first, again = content_hashes(frame), content_hashes(frame.copy())
    assert first.tolist() == again.tolist()
    assert all(len(h) == 64 for h in first)
    # equal payloads share an id, different payloads do not
    keys = [tuple(np.float64(v).tobytes() for v in row) for row in rows]
    for i in range(len(rows)):
        for j in range(len(rows)):
            assert (first[i] == first[j]) == (keys[i] == keys[j])


def test_integers_and_floats_hash_alike_and_text_columns_count():
    assert content_hashes(pd.DataFrame({"a": [1]}))[0] == content_hashes(pd.DataFrame({"a": [1.0]}))[0]
    with_text = pd.DataFrame({"a": [1.0, 1.0], "c": ["x", "y"]})
    ids = content_hashes(with_text)
    assert ids[0] != ids[1]


def test_stamp_puts_provenance_first_and_keeps_features():
    features = pd.DataFrame({"x0": [0.5, 1.5], "x1": [2.0, 3.0]})
    real = stamp_real(features, origin="unit-test")
    synthetic = stamp_synthetic(features, generation=3, model_id="m1", run_id="r1")
    assert tuple(real.columns[: len(PROVENANCE_COLUMNS)]) == PROVENANCE_COLUMNS
    assert feature_columns(real) == ["x0", "x1"]
    assert (real["source"] == "real").all() and (real["generation"] == 0).all() and (real["model_id"] == "").all()
    assert (synthetic["generation"] == 3).all() and (synthetic["origin"] == "r1").all()
    assert str(real["created_at"].dt.tz) == "UTC"


def test_flags_catch_edited_values_and_non_finite_features():
    stamped = stamp_real(pd.DataFrame({"x0": [0.0, 1.0, 2.0], "x1": [0.0, 1.0, 2.0]}), origin="t")
    stamped.loc[1, "x0"] = 1.5  # edited after stamping
    stamped.loc[2, "x1"] = np.inf
    flags = provenance_flags(stamped)
    assert flags["_record_id_matches_payload"].tolist() == [True, False, False]
    assert flags["_features_finite"].tolist() == [True, True, False]


def test_column_names_are_part_of_the_id():
    assert content_hashes(pd.DataFrame({"a": [1.0]}))[0] != content_hashes(pd.DataFrame({"b": [1.0]}))[0]


def test_repeated_real_values_get_numbered_ids_and_synthetic_copies_share_one():
    features = pd.DataFrame({"a": [1.0, 1.0, 2.0, 1.0]})
    real = stamp_real(features, origin="t")
    base = content_hashes(features)
    assert real["record_id"].tolist() == [base[0], base[0][:56] + "00000001", base[2], base[0][:56] + "00000002"]
    synthetic = stamp_synthetic(features, generation=3, model_id="m", run_id="r")
    assert synthetic["record_id"].tolist() == [h[:56] + "00000003" for h in base]  # numbered by generation
    assert provenance_flags(synthetic)["_record_id_matches_payload"].all()


@settings(deadline=None, max_examples=50)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=40), st.lists(st.integers(0, 3), max_size=20))
def test_occurrence_ids_are_unique_and_bound_to_their_payload(first, more):
    existing = occurrence_ids(pd.DataFrame({"a": first}))
    new = occurrence_ids(pd.DataFrame({"a": more}), existing=existing)
    both = pd.concat([existing, new], ignore_index=True)
    assert both.is_unique
    assert ids_match_payload(both, pd.DataFrame({"a": first + more})).all()
    assert not ids_match_payload(both, pd.DataFrame({"a": [v + 1 for v in first + more]})).any()


def reference_content_hashes(features: pd.DataFrame) -> list[str]:
    """The row-by-row implementation record ids were first made with (kept here to pin the ids down)."""
    import hashlib

    columns = list(features.columns)
    header = "\x1f".join(map(str, columns)).encode()
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(features[c])]
    other = [c for c in columns if c not in numeric]
    num_bytes = np.ascontiguousarray(features[numeric].to_numpy(dtype=np.float64)) if numeric else None
    text = features[other].astype(str).to_numpy() if other else None
    ids = []
    for i in range(len(features)):
        digest = hashlib.sha256(header)
        if num_bytes is not None:
            digest.update(num_bytes[i].tobytes())
        if text is not None:
            digest.update("\x1f".join(text[i]).encode())
        ids.append(digest.hexdigest())
    return ids


any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
cell_text = st.one_of(st.text(max_size=6), st.none(), any_float)


@settings(deadline=None, max_examples=60)
@given(
    st.lists(
        st.tuples(st.integers(-(2**53), 2**53), any_float, st.text(max_size=8), cell_text, st.booleans()),
        max_size=25,
    ),
    st.sampled_from([["i", "f", "s", "o", "b"], ["f"], ["s"], ["s", "o"], ["i", "b"], ["o", "f", "s"]]),
)
def test_vectorised_hashes_are_byte_identical_to_the_row_by_row_ones(rows, columns):
    frame = pd.DataFrame(rows, columns=["i", "f", "s", "o", "b"])[columns]
    assert content_hashes(frame).tolist() == reference_content_hashes(frame)


def test_a_record_checked_before_is_checked_again_when_its_bytes_change():
    anchor = stamp_real(pd.DataFrame({"x": np.arange(50.0), "c": list("ab") * 25}), origin="t")
    assert provenance_flags(anchor)["_record_id_matches_payload"].all()  # checked once, remembered
    edited = anchor.copy()
    edited.loc[3, "x"] = 3.5  # the same id, another value
    edited.loc[7, "c"] = "z"
    edited.loc[9, "record_id"] = anchor.loc[10, "record_id"]  # an id moved to another payload
    assert np.flatnonzero(~provenance_flags(edited)["_record_id_matches_payload"]).tolist() == [3, 7, 9]
    nan = anchor.copy()
    nan.loc[4, "x"] = np.nan
    assert np.flatnonzero(~provenance_flags(nan)["_record_id_matches_payload"]).tolist() == [4]
    # a subset in another order with new rows (a mixture): the remembered rows and the new ones both answer
    synthetic = stamp_synthetic(
        pd.DataFrame({"x": [0.25, 0.5], "c": ["a", "b"]}), generation=1, model_id="m", run_id="r"
    )
    mixture = pd.concat([anchor.iloc[::-3], synthetic], ignore_index=True)
    assert provenance_flags(mixture)["_record_id_matches_payload"].all()
    mixture.loc[len(mixture) - 1, "x"] = 0.75
    assert provenance_flags(mixture)["_record_id_matches_payload"].tolist() == [True] * (len(mixture) - 1) + [False]


def test_a_column_read_as_text_is_never_compared_with_one_read_as_a_number():
    numbers = stamp_real(pd.DataFrame({"x": [1.0, 2.0], "c": ["a\x1fb", "b"]}), origin="t")
    assert provenance_flags(numbers)["_record_id_matches_payload"].all()
    as_text = numbers.assign(x=numbers["x"].astype(str))  # same names and ids, x now hashed as its text
    assert not provenance_flags(as_text)["_record_id_matches_payload"].any()


def test_remembered_rows_answer_lookups_from_several_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    rng = np.random.default_rng(0)
    with ThreadPoolExecutor(max_workers=8) as pool:  # as the experiment's chains do
        for round_ in range(10):  # each round a new anchor: its lookup table is built by whichever thread is first
            anchor = stamp_real(pd.DataFrame({"x": np.arange(20_000.0) + round_, "y": 1.0}), origin="t")
            assert provenance_flags(anchor)["_record_id_matches_payload"].all()
            parts = [anchor.iloc[np.sort(rng.choice(len(anchor), 2000, replace=False))] for _ in range(8)]
            start = Barrier(8)

            def check(part, start=start):
                start.wait()
                return provenance_flags(part)["_record_id_matches_payload"].all()

            assert all(pool.map(check, parts))
