"""Screening text: curation of a generated batch, the gate's text checks, and a crawl's triage."""

from __future__ import annotations

import json
from dataclasses import replace

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
from collapse_guard.text.watermark import as_key, text_token_ids
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
    assert any("[text]" in t and "name no watermark key" in t and "generations/gen_001/x" in t for t in texts)
    assert any("[text]" in t and "of the synthetic texts carry no detectable watermark" in t for t in texts)


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
    from collapse_guard.text.screening import survives_edits, surviving_share

    def detectable_length(green_share: float, gamma: float, scheme: str, fpr: float) -> int:
        """The shortest text (scored units, up to 5000) at which a text of this green share survives the edits."""
        lengths = np.arange(1, 5001)
        ok = survives_edits(np.round(green_share * lengths), lengths, gamma, scheme, fpr)
        return int(lengths[np.argmax(ok)]) if ok.any() else 0

    assert surviving_share("lefthash-h1") == pytest.approx(0.5625)
    assert 0.45 < surviving_share("selfhash-h4") < 0.6
    short, long = detectable_length(0.9, 0.25, "lefthash-h1", 1e-4), detectable_length(0.6, 0.25, "lefthash-h1", 1e-4)
    assert 0 < short < long
    assert detectable_length(0.25, 0.25, "lefthash-h1", 1e-4) == 0  # no mark: never detectable
    ok = survives_edits(np.array([45, 90, 180]), np.array([50, 100, 200]), 0.25, "lefthash-h1", 1e-4)
    assert ok.tolist() == sorted(ok.tolist())  # monotone in length at a fixed green share


def _clopper_pearson_upper(hits: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on a binomial rate."""
    from scipy.stats import beta

    return 1.0 if hits == trials else float(beta.ppf(confidence, hits + 1, trials - hits))


def test_unmarked_text_under_four_keys_and_two_schemes_keeps_the_false_positive_rate():
    """Eight tests per document (4 keys × 2 schemes) on text that carries none of their watermarks (words drawn
    uniformly from a million: the null model exactly). Marked at most ``fpr`` of the time, with the 95 %
    Clopper-Pearson upper bound below ``fpr`` too; without the correction (any test's own bound <= fpr),
    several times more."""
    keys = {key.key_id: key for key in (as_key(f"fpr test key {i}") for i in range(4))}
    fpr = 0.05
    screen = WatermarkScreen(
        keys, 0.25, schemes={k: ("lefthash-h1", "selfhash-h4") for k in keys}, fpr=fpr, uncertain_fpr=0.2
    )
    rng = np.random.default_rng(24)
    texts = [" ".join(f"w{word}" for word in rng.integers(0, 10**6, 120)) for _ in range(3000)]
    scores = screen.scores(texts)
    marked = int(scores["detected"].sum())
    rate, upper = marked / len(texts), _clopper_pearson_upper(marked, len(texts))
    uncorrected = float((scores["window_p"] <= fpr).mean())
    message = (
        f"{marked}/{len(texts)} marked: rate {rate:.4f}, 95% upper bound {upper:.4f}, nominal {fpr}; "
        f"uncorrected {uncorrected:.4f}"
    )
    assert (scores["tests"] == 8).all(), message
    assert rate <= fpr and upper <= fpr, message
    assert uncorrected > 2 * fpr, message  # the eight tests uncorrected would break the promise
    assert set(scores["scheme"]) == {"lefthash-h1", "selfhash-h4"} and set(scores["key_id"]) == set(keys)


def test_every_row_carries_the_evidence_of_the_test_that_decided_it(split, marked):
    """Real paragraphs and marked samples under 2 keys × 2 schemes: each row names the key, scheme and
    tokenization of its smallest bound, with that test's own counts; no text with units reports none."""
    _, held_out = split
    texts = [*held_out["text"].tolist(), *marked, "one", ""]
    schemes = {TEST_KEY.key_id: ("lefthash-h1", "selfhash"), OTHER_KEY.key_id: ("lefthash-h1", "selfhash-h4")}
    screen = replace(SCREEN, schemes=schemes)
    scores = screen.scores(texts)
    assert (scores["tests"] == 4).all()  # "selfhash" and "selfhash-h4" are one scheme
    has_units = np.array([len(text_token_ids(t)) >= 2 for t in texts])
    assert (scores["scored"][has_units] > 0).all() and (scores["key_id"][has_units] != "").all()
    assert (scores["scheme"][has_units] != "").all() and (scores["tokenization"][has_units] == "words").all()
    single = {
        (key_id, scheme): replace(screen, keys={key_id: screen.keys[key_id]}, schemes={key_id: (scheme,)}).scores(texts)
        for key_id, scheme in screen.pairs()
    }
    for row in np.flatnonzero(has_units):
        decided = single[(scores["key_id"].iloc[row], scores["scheme"].iloc[row])].iloc[row]
        assert scores["window_p"].iloc[row] == min(s["window_p"].iloc[row] for s in single.values())
        for column in ("green", "scored", "z", "p_value", "window_z", "window_p", "span_start", "span_end"):
            assert scores[column].iloc[row] == decided[column], column
    np.testing.assert_allclose(scores["fpr_bound"], np.minimum(1, 4 * scores["window_p"]))
    assert scores["detected"].iloc[len(held_out) : len(held_out) + len(marked)].mean() >= 0.9
    assert (scores["key_id"][scores["detected"]] == TEST_KEY.key_id).all()
    assert not scores["detected"].iloc[: len(held_out)].any()
    assert scores[["scored", "key_id"]].iloc[-1].tolist() == [0, TEST_KEY.key_id]  # "" has no units to score
