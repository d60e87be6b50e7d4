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
        "[anchor] the anchor has at least as many rows as the pipeline last recorded: observed 40 against min_value=45 (in data/anchor/real.parquet)",
    ),
    ("anchor", 1): (
        on_anchor(set_value(3, "source", "synthetic")),
        None,
        "[anchor] every anchor record is real: 1 of 40 checked rows fail (2.5%); e.g. synthetic; records 8068633dd55f (in data/anchor/real.parquet)",
    ),
    ("anchor", 2): (
        on_anchor(duplicate_first_row),
        None,
        "[anchor] no anchor record appears twice: 2 of 40 checked rows fail (5.0%); e.g. d27286657b21c6278f2dfeedecba4f81076aa7275c7eb1dafa6e10083f6f0a4e, d27286657b21c6278f2dfeedecba4f81076aa7275c7eb1dafa6e10083f6f0a4e; records d27286657b21, d27286657b21 (in data/anchor/real.parquet)",
    ),
    ("anchor", 3): (
        on_anchor(set_value(5, "x0", 99.0)),
        None,
        "[anchor] anchor record ids match their payload (no edited values): 1 of 40 checked rows fail (2.5%); records 9cf984175afc (in data/anchor/real.parquet)",
    ),
    ("anchor", 4): (
        on_anchor(set_value(5, "x0", np.nan, keep_id=True)),
        None,
        "[anchor] no anchor feature holds NaN or infinity: 1 of 40 checked rows fail (2.5%); records 4858b239008d (in data/anchor/real.parquet)",
    ),
    ("mixture", 0): (
        with_settings(min_real_fraction=0.9),
        None,
        "[mixture] the real fraction is at or above gate.min_real_fraction: 10 of 50 checked rows fail (20.0%), at most 10.0% allowed; e.g. synthetic, synthetic, synthetic; records d36959329f73, 99ac791bea03, e1ac129a58b6 (in generations/gen_001/synthetic.parquet)",
    ),
    ("mixture", 1): (
        on_mixture(set_value(45, "x1", np.inf, keep_id=True)),
        None,
        "[mixture] no feature holds NaN or infinity: 1 of 50 checked rows fail (2.0%); records da166b205760 (in generations/gen_001/synthetic.parquet)",
    ),
    ("mixture", 2): (
        on_mixture(lambda m: m.assign(extra=1.0)),
        None,
        "[mixture] the columns match the anchor's schema exactly: observed ['_features_finite', '_file', '_kind_breach', '_record_id_matches_payload', 'created_at', 'extra', 'generation', 'model_id', 'origin', 'record_id', 'source', 'x0', 'x1'] against column_set=['record_id', 'source', 'generation', 'model_id', 'created_at', 'origin', 'x0', 'x1', '_record_id_matches_payload', '_features_finite', '_kind_breach', '_file'] (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 0): (
        on_mixture(lambda m: m.drop(columns="record_id")),
        None,
        "[provenance] the provenance column 'record_id' is present: column 'record_id' is missing (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 1): (
        on_mixture(lambda m: m.drop(columns="source")),
        None,
        "[provenance] the provenance column 'source' is present: column 'source' is missing (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 2): (
        on_mixture(lambda m: m.drop(columns="generation")),
        None,
        "[provenance] the provenance column 'generation' is present: column 'generation' is missing (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 3): (
        on_mixture(lambda m: m.drop(columns="model_id")),
        None,
        "[provenance] the provenance column 'model_id' is present: column 'model_id' is missing (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 4): (
        on_mixture(lambda m: m.drop(columns="created_at")),
        None,
        "[provenance] the provenance column 'created_at' is present: column 'created_at' is missing (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 5): (
        on_mixture(lambda m: m.drop(columns="origin")),
        None,
        "[provenance] the provenance column 'origin' is present: column 'origin' is missing (in generations/gen_001/mixture.parquet)",
    ),
    ("provenance", 6): (
        on_mixture(set_value(42, "record_id", None)),
        None,
        "[provenance] every record has a 'record_id': 1 of 50 checked rows fail (2.0%); e.g. None (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 7): (
        on_mixture(set_value(42, "source", None)),
        None,
        "[provenance] every record has a 'source': 1 of 50 checked rows fail (2.0%); e.g. None; records e1ac129a58b6 (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 8): (
        on_mixture(set_value(42, "generation", None)),
        None,
        "[provenance] every record has a 'generation': 1 of 50 checked rows fail (2.0%); e.g. None; records e1ac129a58b6 (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 9): (
        on_mixture(set_value(42, "model_id", None)),
        None,
        "[provenance] every record has a 'model_id': 1 of 50 checked rows fail (2.0%); e.g. None; records e1ac129a58b6 (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 10): (
        on_mixture(set_value(42, "created_at", None)),
        None,
        "[provenance] every record has a 'created_at': 1 of 50 checked rows fail (2.0%); e.g. None; records e1ac129a58b6 (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 11): (
        on_mixture(set_value(42, "origin", None)),
        None,
        "[provenance] every record has a 'origin': 1 of 50 checked rows fail (2.0%); e.g. None; records e1ac129a58b6 (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 12): (
        on_mixture(set_value(41, "source", "scraped")),
        None,
        "[provenance] source is 'real' or 'synthetic': 1 of 50 checked rows fail (2.0%); e.g. scraped; records 99ac791bea03 (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 13): (
        on_mixture(set_value(41, "record_id", "not-a-hash")),
        None,
        "[provenance] record_id is a SHA-256 content hash (64 hex digits): 1 of 50 checked rows fail (2.0%); e.g. not-a-hash; records not-a-hash (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 14): (
        on_mixture(set_value(44, "x0", 123.0)),
        None,
        "[provenance] record_id is the hash of the record's payload (the values were not edited): 1 of 50 checked rows fail (2.0%); records a5a8e4d964dd (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 15): (
        on_mixture(duplicate_first_row),
        None,
        "[provenance] no record appears twice (record_id unique): 2 of 50 checked rows fail (4.0%); e.g. d27286657b21c6278f2dfeedecba4f81076aa7275c7eb1dafa6e10083f6f0a4e, d27286657b21c6278f2dfeedecba4f81076aa7275c7eb1dafa6e10083f6f0a4e; records d27286657b21, d27286657b21 (in data/anchor/real.parquet)",
    ),
    ("provenance", 16): (
        on_mixture(set_value(2, "origin", "")),
        None,
        "[provenance] every record names its origin (data set for real, run id for synthetic): 1 of 50 checked rows fail (2.0%); e.g. ''; records 14dcd7d83bda (in data/anchor/real.parquet)",
    ),
    ("provenance", 17): (
        on_mixture(set_value(43, "model_id", "")),
        None,
        "[provenance] every synthetic record names the model that made it (model_id): 1 of 10 checked rows fail (10.0%); e.g. ''; records f8d22a5556bd (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 18): (
        on_mixture(set_value(43, "generation", 0)),
        None,
        "[provenance] every synthetic record has a generation of 1 or more: 1 of 10 checked rows fail (10.0%); e.g. 0; records f8d22a5556bd (in generations/gen_001/synthetic.parquet)",
    ),
    ("provenance", 19): (
        on_mixture(set_value(7, "generation", 2)),
        None,
        "[provenance] every real record has generation 0: 1 of 40 checked rows fail (2.5%); e.g. 2; records 43f212a6959a (in data/anchor/real.parquet)",
    ),
    ("text", 0): (
        on_mixture(lambda m: text_labels(m).drop(columns="watermark_key_id")),
        flags(),
        "[text] text records carry the provenance column 'watermark_key_id': column 'watermark_key_id' is missing (in generations/gen_001/mixture.parquet)",
    ),
    ("text", 1): (
        on_mixture(lambda m: text_labels(m).drop(columns="decoding")),
        flags(),
        "[text] text records carry the provenance column 'decoding' (the settings that generated them): column 'decoding' is missing (in generations/gen_001/mixture.parquet)",
    ),
    ("text", 2): (
        on_mixture(text_labels),
        flags(labelled=1),
        "[text] every synthetic text record names the watermark key that marked it: 1 of 10 checked rows fail (10.0%); records d36959329f73 (in generations/gen_001/synthetic.parquet)",
    ),
    ("text", 3): (
        on_mixture(text_labels),
        flags(undetected=3),
        "[text] synthetic text whose watermark is not detectable (unlabelled leakage) stays under text.gate.max_unwatermarked_share: 3 of 10 checked rows fail (30.0%), at most 20.0% allowed; records d36959329f73, 99ac791bea03, e1ac129a58b6 (in generations/gen_001/synthetic.parquet)",
    ),
    ("text", 5): (
        on_mixture(text_labels),
        flags(fragile=3),
        "[text] synthetic text too short to stay detectable after 25 % of its words are edited stays under text.gate.max_edit_fragile_share (default 1: reported, never blocking): 3 of 10 checked rows fail (30.0%), at most 20.0% allowed; records d36959329f73, 99ac791bea03, e1ac129a58b6 (in generations/gen_001/synthetic.parquet)",
    ),
    ("text", 4): (
        on_mixture(text_labels),
        flags(near=3),
        "[text] synthetic text that copies or nearly copies the anchor or other synthetic text stays under text.gate.max_near_duplicate_share: 3 of 10 checked rows fail (30.0%), at most 20.0% allowed; records d36959329f73, 99ac791bea03, e1ac129a58b6 (in generations/gen_001/synthetic.parquet)",
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
    "[types] every value keeps its anchor column's type and range (whole numbers stay whole, bounded columns in bounds): 1 of 50 checked rows fail (2.0%); e.g. column 'rating'; records 189835205bcf (in generations/gen_001/synthetic.parquet)",
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
        "[incoming] the table has the rows the holdout split and the metrics need (a first anchor: 10 held-out records): observed 0 against min_value=100 (in new.csv)",
    ),
    ("incoming", 1): (
        lambda f: f.rename(columns={"x1": "x2"}),
        True,
        "[incoming] the columns are the anchor's features, in any order: observed ['_constant_column', '_empty_column', '_index_column', '_missing_in', '_mistyped_in', '_nonfinite_in', '_provenance_column', 'rating', 'x0', 'x2'] against column_set=['x0', 'x1', 'rating', '_missing_in', '_nonfinite_in', '_mistyped_in', '_empty_column', '_constant_column', '_index_column', '_provenance_column'] (in new.csv)",
    ),
    ("incoming", 2): (
        at(4, "x1", np.nan),
        True,
        "[incoming] no value is missing: 1 of 40 checked rows fail (2.5%); e.g. column 'x1'; rows 5 (in new.csv)",
    ),
    ("incoming", 3): (
        at(6, "x0", -np.inf),
        True,
        "[incoming] no number is infinite: 1 of 40 checked rows fail (2.5%); e.g. column 'x0'; rows 7 (in new.csv)",
    ),
    ("incoming", 4): (
        at(2, "x0", "n/a"),
        True,
        "[incoming] every value has its column's type (no text in a number column, no fraction in a whole-number one): 1 of 40 checked rows fail (2.5%); e.g. column 'x0'; rows 3 (in new.csv)",
    ),
    ("incoming", 5): (
        lambda f: f.assign(x1=np.nan),
        True,
        "[incoming] no column is empty (all values missing): 40 of 40 checked rows fail (100.0%); e.g. column 'x1'; rows 1, 2, 3 (in new.csv)",
    ),
    ("incoming", 6): (
        lambda f: f.assign(x1=1.0),
        False,
        "[incoming] no column of a first anchor holds a single value: 40 of 40 checked rows fail (100.0%); e.g. column 'x1'; rows 1, 2, 3 (in new.csv)",
    ),
    ("incoming", 7): (
        lambda f: f.reset_index().rename(columns={"index": "Unnamed: 0"}),
        False,
        "[incoming] no column is a row index left by a CSV writer (save with index=False): 40 of 40 checked rows fail (100.0%); e.g. column 'Unnamed: 0'; rows 1, 2, 3 (in new.csv)",
    ),
    ("incoming", 8): (
        lambda f: f.assign(source="real"),
        False,
        "[incoming] the table carries no provenance columns of its own (they are stamped at the door): 40 of 40 checked rows fail (100.0%); e.g. column 'source'; rows 1, 2, 3 (in new.csv)",
    ),
}


# (suite, expectation index) -> (candidate's metrics against CHAMPION, the exact refusal reason recorded). The
# tolerances are params.yaml's defaults (promotion:).
CHAMPION = {"tail_coverage": 0.9, "variance_ratio": 1.0, "heldout_real_loss": 2.0}
MODEL_FILE = "generations/gen_002/model.pt"
PROMOTION_CASES: dict[tuple[str, int], tuple[dict[str, float], str]] = {
    ("promotion", 0): (
        {**CHAMPION, "tail_coverage": 0.75},
        "[promotion] the tail signal falls at most promotion.tail_drop below the champion's: observed 0.15 against max_value=0.1 (in generations/gen_002/model.pt)",
    ),
    ("promotion", 1): (
        {**CHAMPION, "variance_ratio": 0.8},
        "[promotion] the spread signal (variance ratio) strays at most promotion.spread_drift further from 1 than the champion's: observed 0.2 against max_value=0.15 (in generations/gen_002/model.pt)",
    ),
    ("promotion", 2): (
        {**CHAMPION, "heldout_real_loss": 2.5},
        "[promotion] the held-out real loss rises at most promotion.loss_rise above the champion's: observed 0.5 against max_value=0.1 (in generations/gen_002/model.pt)",
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
    )
    description = next(e for s, i, e in suite_expectations() if (s, i) == (suite, index))["meta"]["description"]
    mine = [str(f) for f in verdict.failures if f.suite == suite and str(f).startswith(f"[{suite}] {description}:")]
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
    mine = [str(f) for f in failures if str(f).startswith(f"[{suite}] {description}:")]
    assert mine == [expected], "\n".join(str(f) for f in failures)


def test_a_clean_table_passes_the_door():
    clean = incoming_table()
    assert door.incoming_failures(clean, None, 40, SUITES, "new.csv") == []
    assert door.incoming_failures(clean[["rating", "x1", "x0"]], clean, 1, SUITES, "new.csv") == []
