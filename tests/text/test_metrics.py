import pytest

from collapse_guard.text.metrics import (
    distinct_n,
    rare_token_retention,
    tail_vocabulary,
    text_metrics,
    unigram_entropy,
)


def test_tail_vocabulary_is_the_rarest_learnable_types_within_the_mass():
    anchor = ["a a a a a a a a a a b b b c c d d e"]  # 18 tokens; e is seen once, so no model can learn it
    tail, share = tail_vocabulary(anchor, tail_mass=0.25)
    assert tail == {"c", "d"} and share == pytest.approx(4 / 18)
    assert tail_vocabulary(anchor, tail_mass=0.05)[0] == set()
    assert "e" in tail_vocabulary(anchor, tail_mass=0.25, min_count=1)[0]


def test_real_held_out_text_retains_the_tail_and_collapsed_text_does_not(split):
    train, held_out = split
    anchor = train["text"].tolist()
    real = rare_token_retention(held_out["text"].tolist(), anchor, budget=5000)
    assert 0.5 < real["rare_token_mass_retention"] < 2.0
    assert real["tokens_compared"] == 5000
    common = " ".join(["the", "of", "a", "is", "to"] * 40)
    collapsed = rare_token_retention([common] * 30, anchor, reference_texts=held_out["text"].tolist(), budget=5000)
    assert collapsed["rare_token_mass_retention"] == 0 and collapsed["rare_token_count_retention"] == 0
    itself = rare_token_retention(held_out["text"].tolist(), anchor, held_out["text"].tolist(), budget=5000)
    assert itself["rare_token_mass_retention"] == pytest.approx(1.0)
    assert itself["rare_token_count_retention"] == pytest.approx(1.0)


def test_distinct_n_and_entropy():
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["a b", "b a"], 2) == 1.0  # n-grams do not cross documents
    assert distinct_n(["a b c d"], 1, budget=2) == 1.0
    assert unigram_entropy(["a b c d"]) == pytest.approx(2.0)
    assert unigram_entropy(["a a a a"]) == 0.0
    assert unigram_entropy([]) == 0.0


def test_text_metrics_on_a_model_s_samples(tiny_lm, split):
    from collapse_guard.config import DecodingParams

    train, held_out = split
    samples = tiny_lm.sample(30, DecodingParams(), seed=0)["text"].tolist()
    metrics = text_metrics(samples, train["text"].tolist(), held_out["text"].tolist(), budget=2000)
    assert set(metrics) >= {"rare_token_mass_retention", "distinct_1", "distinct_2", "distinct_3", "unigram_entropy"}
    assert 0 < metrics["distinct_1"] <= metrics["distinct_2"] <= metrics["distinct_3"] <= 1


def test_real_text_cut_as_a_model_writes_it_does_not_drift_from_the_anchor(split, tmp_path):
    """A model that wrote exactly like the held-out real documents, within a 60-token cap, must not read as
    drifted: whole anchor paragraphs (up to hundreds of tokens) against capped documents did, in length and in
    type-token ratio (which falls with length), whatever the model. Descriptors are compared like for like."""
    import json

    import pandas as pd

    from collapse_guard.modality.registry import load_params
    from collapse_guard.reports.drift import report_json_path, report_values
    from collapse_guard.text.evidently_metrics import ANCHOR_HALVES
    from collapse_guard.text.metrics import tokens_of
    from collapse_guard.text.modality import DESCRIPTORS, TextModality, comparison_window, descriptors
    from tests.conftest import write_params

    train, held_out = split
    capped = pd.DataFrame({"text": [" ".join(tokens_of([t])[:60]) for t in held_out["text"]]})
    write_params(tmp_path, "examples/text/params.yaml", {})
    modality = TextModality(load_params(tmp_path / "params.yaml"))
    recorded = {"rare_token_mass_retention": 0.93, "effective_vocabulary_ratio": 1.01}
    summary = modality.drift(capped, train[["text"]], tmp_path / "drift.html", recorded)
    assert summary.drift_share == 0.0, summary.column_scores
    window, _ = comparison_window(capped["text"].tolist(), train["text"].tolist())
    assert 20 <= window <= 60 and f"first {window} tokens" in summary.compares
    assert "model's own distance from real text" in summary.compares

    from scipy.stats import ks_2samp

    tail, _ = tail_vocabulary(train["text"].tolist())
    whole = descriptors(train["text"].tolist(), tail), descriptors(capped["text"].tolist(), tail)
    old = {c: ks_2samp(whole[0][c], whole[1][c]).pvalue for c in DESCRIPTORS}
    assert old["tokens"] < 0.05 and old["type_token_ratio"] < 0.05  # what whole documents against capped ones read

    values = report_values(json.loads(report_json_path(tmp_path / "drift.html").read_text()))
    assert {k: values[k] for k in recorded} == recorded  # the evaluation's numbers, under their names
    assert values[ANCHOR_HALVES] == summary.estimates[ANCHOR_HALVES] and values["drift_share"] == 0.0
