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
