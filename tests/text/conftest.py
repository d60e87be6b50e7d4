"""Shared text fixtures: the default corpus, split once, and one tiny language model trained in seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collapse_guard.text.corpus import default_corpus
from collapse_guard.text.lm import TextLanguageModel
from collapse_guard.text.watermark import WatermarkConfig, as_key

# Small enough to train in a few seconds on one core, large enough to write varied text (high entropy is
# what a watermark needs, and an under-trained model has plenty).
TINY_LM = {
    "embedding_dim": 24,
    "hidden_dim": 48,
    "epochs": 2,
    "sequence_length": 32,
    "batch_size": 32,
    "vocabulary_size": 1200,
    "sample_tokens": 100,
}
TEST_KEY = as_key(b"collapse-guard test key")


@pytest.fixture(scope="session")
def corpus() -> pd.DataFrame:
    return default_corpus()


@pytest.fixture(scope="session")
def split(corpus: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(0).permutation(len(corpus))
    cut = int(0.85 * len(corpus))
    return corpus.iloc[order[:cut]].reset_index(drop=True), corpus.iloc[order[cut:]].reset_index(drop=True)


@pytest.fixture(scope="session")
def tiny_lm(split) -> TextLanguageModel:
    train, _ = split
    model = TextLanguageModel(**TINY_LM, no_copy_ngram=4)
    model.fit(train, seed=0)
    return model


@pytest.fixture(scope="session")
def watermarked_lm(tiny_lm: TextLanguageModel, tmp_path_factory) -> TextLanguageModel:
    """The tiny model reloaded with a watermark (sharing the training: the key only acts at sampling time)."""
    path = tmp_path_factory.mktemp("lm") / "tiny.pt"
    tiny_lm.save(path)
    model = TextLanguageModel.load(path)
    model.set_watermark(WatermarkConfig(TEST_KEY, gamma=0.25, delta=2.0))
    return model
