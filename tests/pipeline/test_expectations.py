"""Every expectation in expectations/ fails at least once: one corrupted frame per expectation, validated by
real GX, and the sentence the operator reads asserted exactly. A new expectation without a case here fails
``test_every_expectation_has_a_case``."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from collapse_guard.config import PromotionParams
from collapse_guard.pipeline import door, gate
from collapse_guard.pipeline.mixing import FILE_COLUMN, Accumulate, MixContext
from collapse_guard.pipeline.promotion import decide
from collapse_guard.records.anchor import AnchorRecord, describe
from collapse_guard.records.provenance import content_hashes, feature_columns, stamp_real, stamp_synthetic
from collapse_guard.tabular.column_kinds import column_kinds, kind_flags
from collapse_guard.tabular.default_data import sample_default
from collapse_guard.text.labels import REAL_TEXT_LABELS
from tests.conftest import REPO

SUITES = REPO / "expectations"
ANCHOR_FILE = "data/anchor/real.parquet"
BATCH_FILE = "generations/gen_001/synthetic.parquet"
MIXTURE_FILE = "generations/gen_001/mixture.parquet"
TEXT_PARAMETERS = {"min_watermark_detected_share": 0.8, "min_distinct_share": 0.8, "min_edit_robust_share": 0.8}
TEXT_FLAGS = ("_watermark_labelled", "_watermark_detected", "_near_duplicate", "_watermark_survives_edits")


def clean_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(anchor, mixture): 40 real records and 10 synthetic ones, every label valid."""
    real = stamp_real(sample_default(40, 0.025, np.random.default_rng(0)), origin="test")
    synthetic = stamp_synthetic(
        sample_default(10, 0.025, np.random.default_rng(1)), generation=1, model_id="gen000-abc", run_id="run"
    )
    mixture = Accumulate().mix(
        real.assign(**{FILE_COLUMN: ANCHOR_FILE}), [synthetic.assign(**{FILE_COLUMN: BATCH_FILE})], MixContext(None)
    )
    return real, mixture.frame


def rehash(frame: pd.DataFrame, row: int) -> pd.DataFrame:
    """Give ``row`` the record id of its (changed) payload, so only the intended check fails."""
    frame.loc[row, "record_id"] = content_hashes(frame[feature_columns(frame)]).iloc[row]
    return frame


# A case: (anchor, mixture, gate settings) -> the corrupted (anchor, mixture, settings).
Case = Callable[[pd.DataFrame, pd.DataFrame, dict], tuple[pd.DataFrame, pd.DataFrame, dict]]


def on_anchor(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Case:
    return lambda a, m, s: (change(a.copy()), m, s)


def on_mixture(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Case:
    return lambda a, m, s: (a, change(m.copy()), s)


def with_settings(**settings: object) -> Case:
    return lambda a, m, s: (a, m, {**s, **settings})


def set_value(row: int, column: str, value: object, keep_id: bool = False) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object) if value is None or isinstance(value, str) else frame[column]
        frame.loc[row, column] = value
        return rehash(frame, row) if keep_id else frame

    return change


def duplicate_first_row(frame: pd.DataFrame) -> pd.DataFrame:
    frame.iloc[1] = frame.iloc[0]
    return frame


def flags(
    labelled: int = 0, undetected: int = 0, near: int = 0, fragile: int = 0
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The text suite's derived columns, set on the synthetic rows: the first ``n`` of them failing each check."""

    def make(frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=frame.index, columns=list(TEXT_FLAGS), dtype=object)
        rows = np.flatnonzero((frame["source"] == "synthetic").to_numpy())
        failing_counts, good_values = (labelled, undetected, near, fragile), (True, True, False, True)
        for column, failing, good in zip(TEXT_FLAGS, failing_counts, good_values, strict=True):
            out.iloc[rows, out.columns.get_loc(column)] = [not good if i < failing else good for i in range(len(rows))]
        return out

    return make


def text_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Text's provenance labels (collapse_guard.text.labels): a key and a decoding on synthetic rows."""
    synthetic = frame["source"] == "synthetic"
    return frame.assign(watermark_key_id=np.where(synthetic, "key", ""), decoding=np.where(synthetic, "{}", ""))


# (suite, expectation index) -> (case, text flags or None, the exact failure the operator reads)
CASES: dict[tuple[str, int], tuple[Case, Callable | None, str]] = {
    ("anchor", 0): (
        with_settings(recorded_rows=45),
        None,
        "[anchor] the anchor has 40 rows, fewer than the 45 the pipeline last recorded: it shrank (restore it with `dvc checkout`) (in data/anchor/real.parquet)",
    ),
    ("anchor", 1): (
        on_anchor(set_value(3, "source", "synthetic")),
        None,
        "[anchor] anchor records that are not real: 1 (records 8068633dd55f) (in data/anchor/real.parquet)",
    ),
    ("anchor", 2): (
        on_anchor(duplicate_first_row),
        None,
        "[anchor] anchor records that appear more than once: 2 (records d27286657b21, d27286657b21) (in data/anchor/real.parquet)",
    ),
    ("anchor", 3): (
        on_anchor(set_value(5, "x0", 99.0)),
        None,
        "[anchor] anchor records edited since they were stamped (the record id no longer matches the values): 1 (records 9cf984175afc) (in data/anchor/real.parquet)",
    ),
    ("anchor", 4): (
        on_anchor(set_value(5, "x0", np.nan, keep_id=True)),
        None,
        "[anchor] anchor records with NaN or infinity in a feature: 1 (records 4858b239008d) (in data/anchor/real.parquet)",
    ),
    ("mixture", 0): (
        with_settings(min_real_fraction=0.9),
        None,
        "[mixture] real fraction 0.80 is below the floor 0.90 (gate.min_real_fraction) (in generations/gen_001/synthetic.parquet)",
    ),
    ("mixture", 1): (
        on_mixture(set_value(45, "x1", np.inf, keep_id=True)),
        None,
        "[mixture] records with NaN or infinity in a feature: 1 of 50 (records da166b205760) (in generations/gen_001/synthetic.parquet)",
    ),
    ("mixture", 2): (
        on_mixture(lambda m: m.assign(extra=1.0)),
        None,
        "[mixture] the mixture's columns are not the anchor's (not expected: 'extra') (in generations/gen_001/mixture.parquet)",
    ),
    ("mixture", 3): (
        with_settings(held_out=np.arange(40) == 2),
        None,
        "[mixture] held-out anchor records in the mixture, which must never be trained on: 1 (records 14dcd7d83bda) (in data/anchor/real.parquet)",
    ),
    ("inclusion", 0): (
        on_mixture(lambda m: m.drop(index=[3, 7]).reset_index(drop=True)),
        None,
        "[inclusion] anchor records missing from the mixture: 2 of 40 training records (records 8068633dd55f, 43f212a6959a) (in data/anchor/real.parquet)",
    ),
    ("provenance", 0): (
        on_mixture(lambda m: m.drop(columns="record_id")),
        None,
        "[provenance] the provenance column 'record_id' is missing from the mixture (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 1): (
        on_mixture(lambda m: m.drop(columns="source")),
        None,
        "[provenance] the provenance column 'source' is missing from the mixture (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 2): (
        on_mixture(lambda m: m.drop(columns="generation")),
        None,
        "[provenance] the provenance column 'generation' is missing from the mixture (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 3): (
        on_mixture(lambda m: m.drop(columns="model_id")),
        None,
        "[provenance] the provenance column 'model_id' is missing from the mixture (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 4): (
        on_mixture(lambda m: m.drop(columns="created_at")),
        None,
        "[provenance] the provenance column 'created_at' is missing from the mixture (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 5): (
        on_mixture(lambda m: m.drop(columns="origin")),
        None,
        "[provenance] the provenance column 'origin' is missing from the mixture (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 6): (
        on_mixture(set_value(42, "record_id", None)),
        None,
        "[provenance] records without a 'record_id': 1 of 50 (rows 43) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 7): (
        on_mixture(set_value(42, "source", None)),
        None,
        "[provenance] records without a 'source': 1 of 50 (records e1ac129a58b6) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 8): (
        on_mixture(set_value(42, "generation", None)),
        None,
        "[provenance] records without a 'generation': 1 of 50 (records e1ac129a58b6) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 9): (
        on_mixture(set_value(42, "model_id", None)),
        None,
        "[provenance] records without a 'model_id': 1 of 50 (records e1ac129a58b6) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 10): (
        on_mixture(set_value(42, "created_at", None)),
        None,
        "[provenance] records without a 'created_at': 1 of 50 (records e1ac129a58b6) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 11): (
        on_mixture(set_value(42, "origin", None)),
        None,
        "[provenance] records without a 'origin': 1 of 50 (records e1ac129a58b6) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 12): (
        on_mixture(set_value(41, "source", "scraped")),
        None,
        "[provenance] records whose source is neither 'real' nor 'synthetic': 1, e.g. scraped (records 99ac791bea03) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 13): (
        on_mixture(set_value(41, "record_id", "not-a-hash")),
        None,
        "[provenance] records whose record_id is not a SHA-256 content hash: 1 (records not-a-hash) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 14): (
        on_mixture(set_value(44, "x0", 123.0)),
        None,
        "[provenance] records edited since they were stamped (the record id no longer matches the values): 1 (records a5a8e4d964dd) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 15): (
        on_mixture(duplicate_first_row),
        None,
        "[provenance] records that appear more than once: 2 (records d27286657b21, d27286657b21) (in data/anchor/real.parquet)",
    ),
    ("provenance", 16): (
        on_mixture(set_value(2, "origin", "")),
        None,
        "[provenance] records that name no origin (a data set for real records, a run id for synthetic ones): 1 (records 14dcd7d83bda) (in data/anchor/real.parquet)",
    ),
    ("provenance", 17): (
        on_mixture(set_value(43, "model_id", "")),
        None,
        "[provenance] synthetic records that name no model that made them: 1 (records f8d22a5556bd) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 18): (
        on_mixture(set_value(43, "generation", 0)),
        None,
        "[provenance] synthetic records with a generation below 1: 1 (records f8d22a5556bd) (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 19): (
        on_mixture(set_value(7, "generation", 2)),
        None,
        "[provenance] real records with a generation other than 0: 1 (records 43f212a6959a) (in data/anchor/real.parquet)",
    ),
    ("text", 0): (
        on_mixture(lambda m: text_labels(m).drop(columns="watermark_key_id")),
        flags(),
        "[text] the text records lack the provenance column 'watermark_key_id' (the key that marked each synthetic text) (in generations/gen_001/mixture.parquet)",
    ),
    ("text", 1): (
        on_mixture(lambda m: text_labels(m).drop(columns="decoding")),
        flags(),
        "[text] the text records lack the provenance column 'decoding' (the settings that generated each synthetic text) (in generations/gen_001/mixture.parquet)",
    ),
    ("text", 2): (
        on_mixture(text_labels),
        flags(labelled=1),
        "[text] synthetic texts that name no watermark key: 1 (records d36959329f73) (in generations/gen_001/synthetic.parquet)",
    ),
    ("text", 3): (
        on_mixture(text_labels),
        flags(undetected=3),
        "[text] 30.0% of the synthetic texts carry no detectable watermark; text.gate.max_unwatermarked_share allows 20.0% (records d36959329f73, 99ac791bea03, e1ac129a58b6) (in generations/gen_001/synthetic.parquet)",
    ),
    ("text", 5): (
        on_mixture(text_labels),
        flags(fragile=3),
        "[text] 30.0% of the synthetic texts are too short to keep a detectable watermark after 25 % of their words are edited; text.gate.max_edit_fragile_share allows 20.0% (records d36959329f73, 99ac791bea03, e1ac129a58b6) (in generations/gen_001/synthetic.parquet)",
    ),
    ("text", 4): (
        on_mixture(text_labels),
        flags(near=3),
        "[text] 30.0% of the synthetic texts copy or nearly copy the anchor or other synthetic text; text.gate.max_near_duplicate_share allows 20.0% (records d36959329f73, 99ac791bea03, e1ac129a58b6) (in generations/gen_001/synthetic.parquet)",
    ),
}


def with_rating(anchor: pd.DataFrame, mixture: pd.DataFrame, settings: dict):
    """A whole-number 1-5 column in anchor and mixture, and a fraction in one synthetic record's."""
    rating = np.arange(len(mixture)) % 5 + 1
    mixture = mixture.assign(rating=rating.astype(float))
    mixture.loc[45, "rating"] = 2.5
    return anchor.assign(rating=rating[: len(anchor)]), mixture, settings


CASES[("types", 0)] = (
    with_rating,
    None,
    "[types] synthetic records with a value outside its anchor column's type or range: 1 of 50, first in column 'rating' (records 189835205bcf) (in generations/gen_001/synthetic.parquet)",
)


def incoming_table() -> pd.DataFrame:
    """New real data at the door: the default's two features for 40 records, and a 1-5 rating."""
    features = sample_default(40, 0.025, np.random.default_rng(5))
    return features.assign(rating=np.arange(40) % 5 + 1)


def at(row: int, column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object) if isinstance(value, str) else frame[column]
        frame.loc[row, column] = value
        return frame

    return change


# (suite, expectation index) -> (change to the incoming table, checked against the anchor's features (ingest)
# or not (init), the exact failure the operator reads). The door counts rows from 1 (no record ids yet).
INCOMING_CASES: dict[tuple[str, int], tuple[Callable[[pd.DataFrame], pd.DataFrame], bool, str]] = {
    ("incoming", 0): (
        lambda f: f.head(0),
        False,
        "[incoming] the table has 0 row(s); it needs at least 100 (the holdout split and the metrics need them) (in new.csv)",
    ),
    ("incoming", 1): (
        lambda f: f.rename(columns={"x1": "x2"}),
        True,
        "[incoming] the columns are not the anchor's features (missing: 'x1'; not expected: 'x2') (in new.csv)",
    ),
    ("incoming", 2): (
        at(4, "x1", np.nan),
        True,
        "[incoming] rows with a missing value: 1 of 40, first in column 'x1' (rows 5) (in new.csv)",
    ),
    ("incoming", 3): (
        at(6, "x0", -np.inf),
        True,
        "[incoming] rows with an infinite number: 1 of 40, first in column 'x0' (rows 7) (in new.csv)",
    ),
    ("incoming", 4): (
        at(9, "x1", 3e200),
        True,
        "[incoming] rows with a number too large to train on (above 1e150 in magnitude: scaling it overflows): 1 of 40, first in column 'x1' (rows 10) (in new.csv)",
    ),
    ("incoming", 5): (
        at(2, "x0", "n/a"),
        True,
        "[incoming] rows with a value of the wrong type (text in a number column, a fraction in a whole-number one): 1 of 40, first in column 'x0' (rows 3) (in new.csv)",
    ),
    ("incoming", 6): (
        lambda f: f.assign(x1=np.nan),
        True,
        "[incoming] column 'x1' is empty: every value is missing (in new.csv)",
    ),
    ("incoming", 7): (
        lambda f: f.assign(x1=1.0),
        False,
        "[incoming] column 'x1' holds a single value; a first anchor must vary (in new.csv)",
    ),
    ("incoming", 8): (
        lambda f: f.reset_index().rename(columns={"index": "Unnamed: 0"}),
        False,
        "[incoming] column 'Unnamed: 0' is a row index left by a CSV writer: save the file with index=False (pandas: to_csv(..., index=False)) (in new.csv)",
    ),
    ("incoming", 9): (
        lambda f: f.assign(source="real"),
        False,
        "[incoming] column 'source' is a provenance column: provenance is stamped at the door, so leave it out of the file (in new.csv)",
    ),
}


# (suite, expectation index) -> (candidate's metrics against CHAMPION, the exact refusal reason recorded). The
# tolerances are params.yaml's defaults (promotion:).
CHAMPION = {"tail_coverage": 0.9, "variance_ratio": 1.0, "heldout_real_loss": 2.0}
MODEL_FILE = "generations/gen_002/model.pt"
PROMOTION_CASES: dict[tuple[str, int], tuple[dict[str, float], str]] = {
    ("promotion", 0): (
        {**CHAMPION, "tail_coverage": 0.75},
        "[promotion] the candidate's tail coverage fell 0.1500 below the champion's, more than promotion.tail_drop 0.1 (in generations/gen_002/model.pt)",
    ),
    ("promotion", 1): (
        {**CHAMPION, "variance_ratio": 0.8},
        "[promotion] the candidate's variance ratio strayed 0.2000 further from 1 than the champion's, more than promotion.spread_drift 0.15 (in generations/gen_002/model.pt)",
    ),
    ("promotion", 2): (
        {**CHAMPION, "heldout_real_loss": 2.5},
        "[promotion] the candidate's held-out real loss rose 0.5000 nats above the champion's, more than promotion.loss_rise 0.1 (in generations/gen_002/model.pt)",
    ),
}


def suite_expectations() -> list[tuple[str, int, dict]]:
    found = []
    for path in sorted(SUITES.glob("*.json")):
        suite = json.loads(path.read_text())
        found += [(suite.get("name", path.stem), i, e) for i, e in enumerate(suite["expectations"])]
    return found


def test_every_expectation_has_a_case():
    assert {(suite, i) for suite, i, _ in suite_expectations()} == set(CASES) | set(INCOMING_CASES) | set(
        PROMOTION_CASES
    )


@pytest.mark.parametrize(("suite", "index"), sorted(PROMOTION_CASES), ids=lambda v: str(v))
def test_each_promotion_expectation_refuses_with_its_sentence(suite: str, index: int):
    candidate, expected = PROMOTION_CASES[(suite, index)]
    decision = decide(
        candidate,
        CHAMPION,
        tail="tail_coverage",
        spread="variance_ratio",
        settings=PromotionParams(),
        expectations_dir=SUITES,
        modality="tabular",
        model_file=MODEL_FILE,
    )
    assert not decision.promote and decision.reasons[:-1] == [expected]


@pytest.mark.parametrize(("suite", "index"), sorted(CASES), ids=lambda v: str(v))
def test_each_expectation_fails_on_its_corrupted_frame_with_its_sentence(suite: str, index: int):
    case, text_flags, expected = CASES[(suite, index)]
    real, mixture = clean_frames()
    if text_flags:
        real = real.assign(**REAL_TEXT_LABELS)
    anchor_frame, mixture, settings = case(real, mixture, {"min_real_fraction": 0.25, "recorded_rows": 40})
    verdict = gate.evaluate(
        anchor=anchor_frame,
        mixture=mixture,
        recorded_anchor=AnchorRecord(settings["recorded_rows"], describe(anchor_frame).digest),
        min_real_fraction=settings["min_real_fraction"],
        expectations_dir=SUITES,
        anchor_path=ANCHOR_FILE,
        mixture_path=MIXTURE_FILE,
        modality="text" if text_flags else "tabular",
        extra_flags=text_flags or kind_flags(column_kinds(anchor_frame[feature_columns(anchor_frame)])),
        extra_parameters=TEXT_PARAMETERS if text_flags else None,
        held_out=settings.get("held_out"),
    )
    description = next(e for s, i, e in suite_expectations() if (s, i) == (suite, index))["meta"]["description"]
    mine = [str(f) for f in verdict.failures if f.suite == suite and f.rule == description]
    assert mine == [expected], "\n".join(str(f) for f in verdict.failures)


def test_the_clean_frames_pass_every_suite():
    real, mixture = clean_frames()
    for modality, text_flags in (("tabular", None), ("text", flags())):
        verdict = gate.evaluate(
            anchor=real.assign(**REAL_TEXT_LABELS) if text_flags else real,
            mixture=text_labels(mixture) if text_flags else mixture,
            recorded_anchor=describe(real),
            min_real_fraction=0.25,
            expectations_dir=SUITES,
            anchor_path=ANCHOR_FILE,
            modality=modality,
            extra_flags=text_flags or kind_flags(column_kinds(real[feature_columns(real)])),
            extra_parameters=TEXT_PARAMETERS,
        )
        assert verdict.passed, [str(f) for f in verdict.failures]


@pytest.mark.parametrize(("suite", "index"), sorted(INCOMING_CASES), ids=lambda v: str(v))
def test_each_door_expectation_fails_on_its_bad_table_with_its_sentence(suite: str, index: int):
    change, against_anchor, expected = INCOMING_CASES[(suite, index)]
    clean = incoming_table()
    anchor_features = clean if against_anchor else None
    failures = door.incoming_failures(
        change(clean.copy()), anchor_features, 100 if index == 0 else 1, SUITES, "new.csv"
    )
    description = next(e for s, i, e in suite_expectations() if (s, i) == (suite, index))["meta"]["description"]
    mine = [str(f) for f in failures if f.suite == suite and f.rule == description]
    assert mine == [expected], "\n".join(str(f) for f in failures)


def test_a_clean_table_passes_the_door():
    clean = incoming_table()
    assert door.incoming_failures(clean, None, 40, SUITES, "new.csv") == []
    assert door.incoming_failures(clean[["rating", "x1", "x0"]], clean, 1, SUITES, "new.csv") == []
