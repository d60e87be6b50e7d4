"""A Hugging Face causal LM as the generator: a tiny random GPT-2 with a BPE tokenizer trained here, offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collapse_guard.config import DecodingParams
from collapse_guard.errors import ConfigError
from collapse_guard.text.dedup import AnchorIndex
from collapse_guard.text.hf import HFLanguageModel, HFTokenization
from collapse_guard.text.labels import DECODING, WATERMARK_KEY_ID
from collapse_guard.text.screening import WatermarkScreen, curate_text, triage_crawl
from collapse_guard.text.watermark import WatermarkConfig, detect
from tests.text.conftest import TEST_KEY

TINY_GPT2 = {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 128}


@pytest.fixture(scope="module")
def hf_model(split) -> HFLanguageModel:
    train, _ = split
    model = HFLanguageModel(
        config=TINY_GPT2, vocabulary_size=400, epochs=1, sample_tokens=80, min_sample_tokens=60, batch_size=32
    )
    model.fit(train.iloc[:120], seed=0)
    return model


@pytest.mark.parametrize("scheme", ["lefthash-h1", "selfhash-h4"])
def test_the_logits_processor_marks_the_models_text_and_the_screen_finds_it(hf_model, scheme):
    hf_model.set_watermark(WatermarkConfig(TEST_KEY, 0.25, 4.0, scheme))  # a strong bias: a 1-epoch model
    marked = hf_model.sample(6, DecodingParams(), seed=1)
    assert marked.attrs[WATERMARK_KEY_ID] == TEST_KEY.key_id and marked["text"].str.len().min() > 0
    tokenize = hf_model.watermark_tokenization()
    found = detect([tokenize(t) for t in marked["text"]], TEST_KEY, 0.25, scheme=scheme)
    assert np.median(found.z) > 3
    hf_model.set_watermark(None)
    plain = hf_model.sample(6, DecodingParams(), seed=1)
    assert plain.attrs[WATERMARK_KEY_ID] == ""
    screen = WatermarkScreen(
        {TEST_KEY.key_id: TEST_KEY},
        0.25,
        schemes={TEST_KEY.key_id: (scheme,)},
        tokenizations={"model": tokenize},
        fpr=1e-3,
    )
    scores = screen.scores([*marked["text"], *plain["text"]])
    assert scores["detected"].iloc[:6].mean() >= 0.5 and not scores["detected"].iloc[6:].any()
    assert set(scores["scheme"].iloc[:6]) == {scheme}


def test_curation_keeps_the_hf_models_marked_text(hf_model, split):
    hf_model.set_watermark(WatermarkConfig(TEST_KEY, 0.25, 3.0))
    raw = hf_model.sample(8, DecodingParams(), seed=2)
    screen = WatermarkScreen(
        {TEST_KEY.key_id: TEST_KEY}, 0.25, tokenizations={"model": hf_model.watermark_tokenization()}
    )
    labels = {WATERMARK_KEY_ID: TEST_KEY.key_id, DECODING: "{}"}
    kept, report = curate_text(
        raw, AnchorIndex(split[0]["text"].iloc[:50].tolist()), labels, screen, generation=1, model_id="hf", run_id="r"
    )
    assert report.kept >= 5 and report.kept + report.dropped["unwatermarked"] <= 8


def test_save_and_load_give_the_same_model(hf_model, split, tmp_path: Path):
    path = tmp_path / "hf.pt"
    hf_model.save(path)
    loaded = HFLanguageModel.load(path)
    held_out = split[1].iloc[:5]
    assert loaded.loss(held_out) == pytest.approx(hf_model.loss(held_out), rel=1e-6)
    assert json.loads(json.dumps(loaded.options)) == loaded.options
    again = tmp_path / "again.pt"
    hf_model.save(again)  # the same model, the same bytes (audits compare model hashes)
    assert again.read_bytes() == path.read_bytes()


def test_a_tokenizer_file_screens_text_and_a_bad_one_is_a_config_error(hf_model, tmp_path: Path):
    path = tmp_path / "tokenizer.json"
    hf_model.tokenizer.backend_tokenizer.save(str(path))
    tokenization = HFTokenization.from_file(tmp_path)
    text = "a sentence of plain English words"
    np.testing.assert_array_equal(tokenization(text), hf_model.watermark_tokenization()(text))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        HFTokenization.from_file(tmp_path / "bad.json")
    with pytest.raises(ConfigError):
        HFLanguageModel(model_dir=str(tmp_path / "nothing-here")).fit(pd.DataFrame({"text": ["x y z"]}), seed=0)


def test_an_external_detector_quarantines_another_vendors_text(split):
    texts = ["a text another vendor marked", "a plain human text about something"]
    screen = WatermarkScreen(
        {}, 0.25, external={"vendor": lambda batch: [t.startswith("a text another") for t in batch]}
    )
    clean, table = triage_crawl(texts, AnchorIndex(split[0]["text"].iloc[:20].tolist()), screen)
    assert clean.tolist() == [False, True]
    assert table["key_id"].tolist() == ["external:vendor", ""]
    broken = WatermarkScreen({}, 0.25, external={"broken": lambda batch: [True]})
    with pytest.raises(ConfigError, match="broken"):
        broken.scores(texts)


def test_a_synthid_detector_saved_locally_runs_as_an_external_detector(hf_model, tmp_path: Path):
    """The adapter loads a (randomly initialised, untrained) SynthID Bayesian detector and the marking
    model's tokenizer from local folders and returns one verdict per text; its accuracy is SynthID's."""
    from transformers import BayesianDetectorConfig, BayesianDetectorModel

    from collapse_guard.text.hf import SynthIDDetector

    watermarking = {
        "ngram_len": 3,
        "keys": [11, 23, 37, 41],
        "sampling_table_size": 2**12,
        "sampling_table_seed": 0,
        "context_history_size": 64,
    }
    config = BayesianDetectorConfig(watermarking_depth=len(watermarking["keys"]))
    config.set_detector_information(model_name="tiny", watermarking_config=watermarking)
    BayesianDetectorModel(config).save_pretrained(tmp_path / "detector")
    hf_model.tokenizer.save_pretrained(tmp_path / "tokenizer")
    detector = SynthIDDetector(tmp_path / "detector", tmp_path / "tokenizer", threshold=0.5)
    texts = ["a short text to check for a watermark", "another, slightly longer text to check for one as well"]
    posteriors = detector.posteriors(texts)
    assert posteriors.shape == (2,) and ((posteriors >= 0) & (posteriors <= 1)).all()
    assert detector(texts).dtype == bool
    with pytest.raises(ConfigError, match="SynthID"):
        SynthIDDetector(tmp_path / "missing", tmp_path / "tokenizer")


def test_a_users_model_folder_is_loaded_locally_and_kept_with_zero_epochs(hf_model, split, tmp_path: Path):
    hf_model.model.save_pretrained(tmp_path / "mine")
    hf_model.tokenizer.save_pretrained(tmp_path / "mine")
    users = HFLanguageModel(model_dir=str(tmp_path / "mine"), epochs=0, sample_tokens=20)
    users.fit(split[0].iloc[:5], seed=0)
    held_out = split[1].iloc[:5]
    assert users.loss(held_out) == pytest.approx(hf_model.loss(held_out), rel=1e-5)


def test_a_tokenizer_file_fixes_the_tokens_whatever_the_model_is_fitted_on(hf_model, split, tmp_path: Path):
    """Two fresh models fitted on different texts share the file's tokenizer, so their per-token losses compare."""
    path = tmp_path / "tokenizer.json"
    hf_model.tokenizer.backend_tokenizer.save(str(path))
    fixed = [HFLanguageModel(config=TINY_GPT2, tokenizer_file=str(path), epochs=0) for _ in range(2)]
    fixed[0].fit(split[0].iloc[:40], seed=0)
    fixed[1].fit(pd.DataFrame({"text": ["zebra quokka " * 20] * 5}), seed=0)
    assert fixed[0].tokenizer.get_vocab() == fixed[1].tokenizer.get_vocab() == hf_model.tokenizer.get_vocab()
    own = HFLanguageModel(config=TINY_GPT2, vocabulary_size=300, epochs=0)
    own.fit(pd.DataFrame({"text": ["zebra quokka " * 20] * 5}), seed=0)
    assert own.tokenizer.get_vocab() != hf_model.tokenizer.get_vocab()  # without the file: trained on the data


def test_a_tokenizer_file_without_the_end_token_or_missing_is_a_config_error(split, tmp_path: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    plain = Tokenizer(models.WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    plain.pre_tokenizer = pre_tokenizers.Whitespace()
    plain.save(str(tmp_path / "plain.json"))
    with pytest.raises(ConfigError, match="plain.json"):
        HFLanguageModel(tokenizer_file=str(tmp_path / "plain.json"), epochs=0).fit(split[0].iloc[:5], seed=0)
    with pytest.raises(ConfigError, match="missing.json"):
        HFLanguageModel(tokenizer_file=str(tmp_path / "missing.json"), epochs=0).fit(split[0].iloc[:5], seed=0)


def test_curation_keeps_only_text_the_gate_detects_and_a_subword_model_needs_its_tokenizer(
    hf_model, split, tmp_path: Path, monkeypatch
):
    """Curation and the gate screen with the same tokenizations (so the same multiple-testing correction): every
    text curation keeps is one the gate's flags call detected. Without text.watermark.tokenizer a subword model's
    watermark cannot be found in words: that is a ConfigError before anything is sampled."""
    from collapse_guard.modality.registry import load_params
    from collapse_guard.records.anchor import AnchorSplit, describe
    from collapse_guard.records.provenance import stamp_real
    from collapse_guard.text.modality import TextModality
    from collapse_guard.text.screening import mixture_flags
    from collapse_guard.text.watermark import KEY_ENV
    from tests.conftest import TINY_TEXT, write_params

    monkeypatch.delenv(KEY_ENV, raising=False)
    hf_model.tokenizer.backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    frame = stamp_real(split[0].iloc[:60].reset_index(drop=True), origin="test")
    anchor = AnchorSplit(frame, frame, frame, describe(frame))
    without = write_params(tmp_path, "examples/text/params.yaml", TINY_TEXT, text={"watermark": {"delta": 3.0}})
    modality = TextModality(load_params(without))
    modality.prepare_workspace()
    with pytest.raises(ConfigError, match="text.watermark.tokenizer"):
        modality.synthesize(hf_model, 4, DecodingParams(), 1, anchor, generation=1, model_id="hf", run_id="r")

    tokenized = {"watermark": {"delta": 3.0, "tokenizer": "tokenizer.json"}}
    modality = TextModality(load_params(write_params(tmp_path, "examples/text/params.yaml", TINY_TEXT, text=tokenized)))
    kept, report = modality.synthesize(
        hf_model, 16, DecodingParams(), 3, anchor, generation=1, model_id="hf", run_id="r"
    )
    assert len(kept) and set(modality.screen().tokenizations) == {"words", "hf"}
    flags = mixture_flags(kept, modality.anchor_index(anchor), modality.screen())
    assert flags["_watermark_detected"].all(), report.to_dict()
