import time

import numpy as np
import pandas as pd
import pytest

from collapse_guard.config import DecodingParams, ModelParams
from collapse_guard.errors import ConfigError, DataError
from collapse_guard.generator import build_generator, load_generator
from collapse_guard.text.lm import TextLanguageModel
from collapse_guard.text.tokenizer import words
from collapse_guard.text.watermark import KEY_ENV
from tests.text.conftest import TINY_LM

CLASS_PATH = "collapse_guard.text.lm:TextLanguageModel"


def test_tiny_model_trains_in_seconds_and_beats_a_unigram_model(split):
    train, held_out = split
    started = time.perf_counter()
    model = TextLanguageModel(**TINY_LM)
    model.fit(train, seed=0)
    assert time.perf_counter() - started < 20
    vocabulary = len(model.tokenizer)
    assert model.loss(held_out) < np.log(vocabulary) - 1.0  # far better than uniform over the vocabulary
    assert np.isfinite(model.diagnostics()["train_loss"])


def test_samples_are_text_documents_of_the_configured_length(tiny_lm):
    samples = tiny_lm.sample(7, DecodingParams(), seed=1)
    assert list(samples.columns) == ["text"] and len(samples) == 7
    lengths = samples["text"].map(lambda t: len(words(t)))
    assert (lengths == tiny_lm.settings["sample_tokens"]).all()  # min_sample_tokens defaults to the length
    assert "<unk>" not in " ".join(samples["text"]) and "<eos>" not in " ".join(samples["text"])
    again = tiny_lm.sample(7, DecodingParams(), seed=1)
    assert samples["text"].tolist() == again["text"].tolist()
    assert samples["text"].tolist() != tiny_lm.sample(7, DecodingParams(), seed=2)["text"].tolist()
    assert tiny_lm.sample(0, DecodingParams(), seed=1).empty


def test_decoding_controls(tiny_lm):
    greedy = tiny_lm.sample(3, DecodingParams(top_k=1), seed=1)["text"]
    assert greedy.nunique() == 1  # top-k = 1 is greedy decoding: the seed does not matter
    assert greedy.tolist() == tiny_lm.sample(3, DecodingParams(top_k=1), seed=9)["text"].tolist()
    assert tiny_lm.sample(3, DecodingParams(top_p=1e-6), seed=4)["text"].tolist() == greedy.tolist()

    def vocabulary_used(decoding):
        return len({w for t in tiny_lm.sample(20, decoding, seed=2)["text"] for w in words(t)})

    assert vocabulary_used(DecodingParams(temperature=0.3)) < vocabulary_used(DecodingParams(temperature=1.5))
    assert vocabulary_used(DecodingParams(top_k=5)) < vocabulary_used(DecodingParams())


def _training_ngrams(model, texts, n):
    seen = set()
    for text in texts:
        ids = model.tokenizer.encode(text, add_boundaries=True).tolist()
        seen.update(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))
    return seen


def _copies(model, seen, n, decoding):
    rows = ([model.tokenizer.bos_id, *r.tolist()] for r in model.generate_ids(20, decoding, seed=3))
    return sum(tuple(row[i : i + n]) in seen for row in rows for i in range(len(row) - n + 1))


def test_novelty_decoding_never_copies_a_training_ngram(tiny_lm, split, tmp_path):
    n = tiny_lm.settings["no_copy_ngram"]
    seen = _training_ngrams(tiny_lm, split[0]["text"], n)
    cold = DecodingParams(temperature=0.5)
    assert _copies(tiny_lm, seen, n, cold) == 0
    tiny_lm.save(tmp_path / "m.pt")
    unconstrained = TextLanguageModel.load(tmp_path / "m.pt")
    unconstrained.ngrams = None
    assert _copies(unconstrained, seen, n, cold) > 20  # so the constraint is what removed them


def test_save_load_round_trip(tiny_lm, split, tmp_path):
    _, held_out = split
    path = tmp_path / "model.pt"
    tiny_lm.save(path)
    loaded = load_generator(CLASS_PATH, path)
    assert isinstance(loaded, TextLanguageModel)
    assert loaded.options == tiny_lm.options
    assert loaded.loss(held_out) == pytest.approx(tiny_lm.loss(held_out), rel=1e-9)
    decoding = DecodingParams(temperature=0.8, top_p=0.9)
    assert loaded.sample(5, decoding, seed=7)["text"].tolist() == tiny_lm.sample(5, decoding, seed=7)["text"].tolist()
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.pt"):
        TextLanguageModel.load(tmp_path / "junk.pt")


def test_built_from_params_with_a_watermark_key_from_the_environment(monkeypatch, split):
    train, _ = split
    params = ModelParams.model_validate(
        {"class": CLASS_PATH, "options": {**TINY_LM, "epochs": 1, "watermark": {"gamma": 0.25, "delta": 2.0}}}
    )
    model = build_generator(params)
    assert model.options["watermark"] == {"gamma": 0.25, "delta": 2.0, "key_file": None, "scheme": "lefthash-h1"}
    model.fit(train.iloc[:100], seed=0)
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=KEY_ENV):
        model.sample(2, DecodingParams(), seed=0)
    monkeypatch.setenv(KEY_ENV, "env key")
    assert len(model.sample(2, DecodingParams(), seed=0).attrs["watermark_key_id"]) == 12


def test_bad_inputs_and_options():
    with pytest.raises(ConfigError):
        TextLanguageModel(no_copy_ngram=1)
    with pytest.raises(ConfigError):
        TextLanguageModel(watermark={"gamma": 2.0})
    with pytest.raises(ConfigError, match="unknown watermark options"):
        TextLanguageModel(watermark={"key": "secret"})
    with pytest.raises(DataError, match="'text' column"):
        TextLanguageModel(**TINY_LM).fit(pd.DataFrame({"body": ["x"]}), seed=0)
