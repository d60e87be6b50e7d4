"""Screening text: curation of a generated batch, the gate's text checks, and a crawl's triage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from collapse_guard.config import DecodingParams
from collapse_guard.pipeline import gate
from collapse_guard.pipeline.mixing import FILE_COLUMN
from collapse_guard.records.provenance import stamp_real, stamp_synthetic
from collapse_guard.text.dedup import AnchorIndex
from collapse_guard.text.labels import DECODING, WATERMARK_KEY_ID
from collapse_guard.text.screening import WATERMARKED, WatermarkScreen, curate_text, mixture_flags, triage_crawl
from collapse_guard.text.watermark import as_key
from tests.conftest import REPO
from tests.text.conftest import TEST_KEY

OTHER_KEY = as_key(b"someone else's key")
SCREEN = WatermarkScreen({TEST_KEY.key_id: TEST_KEY, OTHER_KEY.key_id: OTHER_KEY}, 0.25, 4.0, 200)
LABELS = {WATERMARK_KEY_ID: TEST_KEY.key_id, DECODING: "{}"}


@pytest.fixture(scope="module")
def anchor(split) -> pd.DataFrame:
    train, _ = split
    return stamp_real(
        train.iloc[:150].reset_index(drop=True), origin="test", labels={WATERMARK_KEY_ID: "", DECODING: ""}
    )


@pytest.fixture(scope="module")
def index(anchor) -> AnchorIndex:
    return AnchorIndex(anchor["text"].tolist())


@pytest.fixture(scope="module")
def marked(watermarked_lm) -> list[str]:
    return watermarked_lm.sample(12, DecodingParams(), seed=5)["text"].tolist()


@pytest.fixture(scope="module")
def unmarked(tiny_lm) -> list[str]:
    return tiny_lm.sample(6, DecodingParams(), seed=6)["text"].tolist()


def test_curation_drops_each_kind_of_bad_text_and_counts_it(anchor, index, marked, unmarked):
    anchor_doc = anchor["text"].iloc[3]
    near_copy = anchor_doc.replace(anchor_doc.split()[5], "zebra", 1)
    batch = [*marked, marked[0], "   ", anchor_doc, near_copy, unmarked[0]]
    kept, report = curate_text(
        pd.DataFrame({"text": batch}), index, LABELS, SCREEN, generation=1, model_id="m", run_id="r"
    )
    assert report.generated == len(batch)
    assert (report.dropped["duplicate"], report.dropped["invalid"], report.dropped["anchor_copy"]) == (1, 1, 1)
    assert report.dropped["near_anchor_copy"] == 1
    assert report.dropped["unwatermarked"] >= 1  # the unwatermarked text claims a key it does not carry
    assert report.kept == len(batch) - 4 - report.dropped["unwatermarked"] - report.dropped["near_duplicate"]
    assert set(kept["text"]) <= set(marked)
    assert (kept[WATERMARK_KEY_ID] == TEST_KEY.key_id).all() and (kept["source"] == "synthetic").all()
    detectability = [json.loads(d)["detectability"] for d in kept[DECODING]]
    assert all(d["scored"] > 0 and d["fpr_bound"] <= 1e-4 for d in detectability)
    assert {d["survives_25pct_edits"] for d in detectability} <= {True, False}


def test_the_screen_names_the_key_that_marked_a_text(marked, split):
    _, held_out = split
    scores = SCREEN.scores([*marked, *held_out["text"].tolist()])
    assert scores["detected"].iloc[: len(marked)].mean() >= 0.9
    assert set(scores["key_id"].iloc[: len(marked)][scores["detected"].iloc[: len(marked)]]) == {TEST_KEY.key_id}
    assert not scores["detected"].iloc[len(marked) :].any()  # no real paragraph is flagged


def test_a_marked_passage_inside_long_human_text_is_found_by_the_window(marked, split):
    _, held_out = split
    human = " ".join(held_out["text"].iloc[:12])
    passage = " ".join(marked[:3])
    long_text = f"{human} {passage} {human}"
    scores = WatermarkScreen({TEST_KEY.key_id: TEST_KEY}, 0.25, 4.0, 150).scores([long_text, human + " " + human])
    assert scores["window_z"].iloc[0] > scores["z"].iloc[0]  # the surrounding text dilutes the whole-text z
    assert scores["detected"].tolist() == [True, False]


def test_gate_flags_and_the_text_suite_block_unlabelled_synthetic_text(anchor, index, marked):
    synthetic = stamp_synthetic(pd.DataFrame({"text": marked}), generation=1, model_id="m", run_id="r", labels=LABELS)
    synthetic.loc[:4, WATERMARK_KEY_ID] = ""  # five records lost their label
    mixture = pd.concat([anchor, synthetic], ignore_index=True)
    flags = mixture_flags(mixture, index, SCREEN)
    assert flags.loc[: len(anchor) - 1].isna().all().all()  # real rows are not checked
    assert flags["_watermark_labelled"].iloc[len(anchor) :].tolist() == [False] * 5 + [True] * (len(marked) - 5)
    assert not flags["_watermark_detected"].iloc[len(anchor) : len(anchor) + 5].any()  # no key named: not detected

    mixture[FILE_COLUMN] = np.where(mixture["source"] == "real", "data/anchor/text.parquet", "generations/gen_001/x")
    verdict = gate.evaluate(
        anchor=anchor,
        mixture=mixture,
        recorded_anchor=None,
        min_real_fraction=0.25,
        expectations_dir=REPO / "expectations",
        anchor_path="data/anchor/text.parquet",
        modality="text",
        extra_flags=lambda frame: mixture_flags(frame, index, SCREEN),
        extra_parameters={
            "min_watermark_detected_share": 0.98,
            "min_distinct_share": 0.95,
            "min_edit_robust_share": 0.0,
        },
    )
    assert not verdict.passed
    texts = [str(f) for f in verdict.failures]
    assert any("[text]" in t and "names the watermark key" in t and "generations/gen_001/x" in t for t in texts)
    assert any("[text]" in t and "unlabelled leakage" in t for t in texts)


def test_the_tabular_gate_does_not_load_the_text_suite():
    assert "text" not in gate.load_suites(REPO / "expectations", "tabular")
    assert "text" in gate.load_suites(REPO / "expectations", "text")


def test_crawl_triage(anchor, index, marked, split):
    _, held_out = split
    anchor_doc = anchor["text"].iloc[7]
    crawl = [held_out["text"].iloc[0], marked[1], anchor_doc.upper(), held_out["text"].iloc[1]]
    clean, table = triage_crawl(crawl, index, SCREEN)
    assert clean.tolist() == [True, False, False, True]
    assert table["reason"].tolist()[1:3] == [WATERMARKED, "exact_duplicate"]
    assert table["z"].iloc[1] > 4 and table["key_id"].iloc[1] == TEST_KEY.key_id
    assert table["key_id"].iloc[0] == ""


def test_short_marked_text_is_flagged_as_too_short_to_survive_edits(anchor, index, marked):
    short = [" ".join(t.split()[:12]) for t in marked[:4]]
    texts = [*marked[:6], *short]
    synthetic = stamp_synthetic(pd.DataFrame({"text": texts}), generation=1, model_id="m", run_id="r", labels=LABELS)
    flags = mixture_flags(synthetic, index, SCREEN)
    robust = flags["_watermark_survives_edits"].tolist()
    assert sum(robust[:6]) >= 4 and not any(robust[6:])


def test_survival_of_edits_grows_with_length_and_green_share():
    from collapse_guard.text.screening import detectable_length, survives_edits, surviving_share

    assert surviving_share("lefthash-h1") == pytest.approx(0.5625)
    assert 0.45 < surviving_share("selfhash-h4") < 0.6
    short, long = detectable_length(0.9, 0.25, "lefthash-h1", 1e-4), detectable_length(0.6, 0.25, "lefthash-h1", 1e-4)
    assert 0 < short < long
    assert detectable_length(0.25, 0.25, "lefthash-h1", 1e-4) == 0  # no mark: never detectable
    ok = survives_edits(np.array([45, 90, 180]), np.array([50, 100, 200]), 0.25, "lefthash-h1", 1e-4)
    assert ok.tolist() == sorted(ok.tolist())  # monotone in length at a fixed green share
