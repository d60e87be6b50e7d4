import logging
import stat

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from collapse_guard.config import DecodingParams
from collapse_guard.errors import ConfigError
from collapse_guard.text import watermark as wm
from collapse_guard.text.hashing import GOLDEN_GAMMA, MASK_64, splitmix64_int
from collapse_guard.text.tokenizer import token_ids, words
from tests.text import detection_oracle as oracle
from tests.text.conftest import TEST_KEY
from tests.text.detection_oracle import detect_reference

GAMMA = 0.25
token_arrays = st.lists(st.integers(0, 2**64 - 1), max_size=60).map(lambda xs: np.asarray(xs, dtype=np.uint64))
small_alphabet = st.lists(st.integers(0, 5), max_size=80).map(lambda xs: np.asarray(xs, dtype=np.uint64))


def _green_by_hand(previous: int, token: int, key: wm.WatermarkKey, gamma: float) -> bool:
    context = splitmix64_int(previous ^ key.seed)
    value = splitmix64_int((context * int(GOLDEN_GAMMA) + token) & MASK_64)
    return value < int(gamma * (1 << 53)) << 11


@settings(max_examples=50, deadline=None)
@given(token_arrays, st.floats(0.05, 0.95))
def test_green_mask_vectorised_equals_per_token(ids, gamma):
    previous = np.roll(ids, 1)
    expected = [_green_by_hand(int(p), int(t), TEST_KEY, gamma) for p, t in zip(previous, ids, strict=True)]
    assert wm.green_mask(previous, ids, TEST_KEY, gamma).tolist() == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(token_arrays, small_alphabet), max_size=12), st.booleans())
def test_detect_equals_the_reference_on_random_streams(documents, ignore_repeats):
    fast = wm.detect(documents, TEST_KEY, GAMMA, ignore_repeats)
    slow = detect_reference([d.tolist() for d in documents], TEST_KEY, GAMMA, ignore_repeats)
    assert fast.green.tolist() == [g for g, _, _ in slow]
    assert fast.scored.tolist() == [s for _, s, _ in slow]
    np.testing.assert_allclose(fast.z, [z for _, _, z in slow], atol=1e-9)
    assert ((fast.p_value > 0) & (fast.p_value <= 1)).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=2, max_size=120), st.integers(1, 40))
def test_windowed_detection_is_the_best_of_all_windows(tokens, window):
    ids = np.asarray(tokens, dtype=np.uint64)
    found = oracle.detect_windowed(ids, TEST_KEY, GAMMA, window, ignore_repeated_pairs=False)
    width = min(window, len(ids) - 1)
    slices = [ids[start : start + width + 1] for start in range(len(ids) - width)]
    brute = wm.detect(slices, TEST_KEY, GAMMA, ignore_repeated_pairs=False).z
    assert found.windows == len(slices)
    assert found.z == pytest.approx(brute.max()) and brute[found.start] == pytest.approx(brute.max())


def test_green_fraction_is_gamma_and_bias_adds_delta_on_green_only():
    vocabulary = np.arange(5000, dtype=np.uint64)
    mask = wm.green_mask(np.arange(200, dtype=np.uint64)[:, None], vocabulary[None, :], TEST_KEY, GAMMA)
    assert mask.mean() == pytest.approx(GAMMA, abs=0.005)
    assert (mask[0] != mask[1]).any()  # the green list depends on the previous token
    logits = np.random.default_rng(0).normal(size=(3, 5000))
    biased = oracle.bias_logits(logits, np.array([0, 1, 2]), TEST_KEY, GAMMA, 2.0)
    np.testing.assert_allclose(biased - logits, 2.0 * mask[:3])
    np.testing.assert_allclose(oracle.bias_logits(logits[1], 1, TEST_KEY, GAMMA, 2.0), biased[1])
    other = wm.green_mask(np.arange(200, dtype=np.uint64)[:, None], vocabulary[None, :], b"another key", GAMMA)
    assert (mask != other).mean() > 0.3


def test_p_values_are_the_exact_binomial_tail():
    detection = wm.detect([np.arange(300, dtype=np.uint64)], TEST_KEY, GAMMA)
    green, scored = int(detection.green[0]), int(detection.scored[0])
    assert scored == 299
    assert detection.p_value[0] == pytest.approx(binom.sf(green - 1, scored, GAMMA))


def test_empty_and_single_token_documents_score_nothing():
    documents = [np.zeros(0, np.uint64), np.array([7], np.uint64), np.array([1, 2], np.uint64)]
    detection = wm.detect(documents, TEST_KEY, GAMMA)
    assert detection.scored.tolist() == [0, 0, 1]
    assert detection.z[:2].tolist() == [0.0, 0.0] and detection.p_value[:2].tolist() == [1.0, 1.0]
    assert wm.detect([], TEST_KEY, GAMMA).z.shape == (0,)


def test_watermarked_generations_are_detected_and_unwatermarked_are_not(watermarked_lm, tiny_lm):
    marked = watermarked_lm.sample(60, DecodingParams(), seed=3)
    assert marked.attrs["watermark_key_id"] == TEST_KEY.key_id
    detection = oracle.detect_texts(marked["text"].tolist(), TEST_KEY, GAMMA)
    assert (detection.z > 4).mean() >= 0.95
    assert np.median(detection.z) > 6
    plain = tiny_lm.sample(60, DecodingParams(), seed=3)
    assert plain.attrs["watermark_key_id"] == ""
    assert (oracle.detect_texts(plain["text"].tolist(), TEST_KEY, GAMMA).z > 4).sum() == 0
    wrong_key = oracle.detect_texts(marked["text"].tolist(), b"not the key", GAMMA)
    assert (wrong_key.z > 4).sum() == 0


def test_false_positives_on_real_text_are_calibrated(corpus):
    stream = np.concatenate([token_ids(words(t)) for t in corpus["text"]])
    windows = [stream[i : i + 200] for i in range(0, len(stream) - 200, 200)]
    z = wm.detect(windows, TEST_KEY, GAMMA).z
    assert len(windows) > 150
    assert abs(z.mean()) < 0.25 and 0.8 < z.std() < 1.2
    assert (z > 4).sum() == 0
    random_streams = np.random.default_rng(1).integers(0, 2**63, (4000, 200), dtype=np.uint64)
    random_z = wm.detect(list(random_streams), TEST_KEY, GAMMA).z
    assert abs(random_z.mean()) < 0.05 and abs(random_z.std() - 1) < 0.05 and (random_z > 4).mean() < 0.001


def test_windowed_detection_finds_a_watermarked_passage_in_long_real_text(corpus, watermarked_lm):
    real = np.concatenate([token_ids(words(t)) for t in corpus["text"].iloc[:60]])[:3000]
    passage = wm.text_token_ids(watermarked_lm.sample(2, DecodingParams(), seed=5)["text"].str.cat(sep=" "))
    mixed = np.concatenate([real[:1500], passage, real[1500:]])
    whole = wm.detect([mixed], TEST_KEY, GAMMA).z[0]
    found = oracle.detect_windowed(mixed, TEST_KEY, GAMMA, window=len(passage))
    assert found.z > 6 and found.z > whole + 2
    assert abs(found.start - 1500) < len(passage) // 4
    assert found.windows == len(mixed) - len(passage)
    assert oracle.detect_windowed(real, TEST_KEY, GAMMA, window=len(passage)).z < 4.5
    assert oracle.detect_windowed(np.array([1], np.uint64), TEST_KEY, GAMMA).windows == 0


def test_keys_come_from_the_environment_or_a_file_and_are_never_shown(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(wm.KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=wm.KEY_ENV):
        wm.load_key(None)
    path = tmp_path / "watermark.key"
    created = wm.create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert wm.load_key(path) == created
    with pytest.raises(ConfigError, match="already exists"):
        wm.create_key_file(path)
    monkeypatch.setenv(wm.KEY_ENV, "from-the-environment")
    assert wm.load_key(path) == wm.as_key(b"from-the-environment")
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("using %s / %r", created, created)
    secret = created.secret.decode()
    assert secret not in caplog.text and created.key_id in caplog.text
    assert secret not in created.key_id and len(created.key_id) == 12
    (tmp_path / "empty.key").write_text("\n")
    monkeypatch.delenv(wm.KEY_ENV)
    with pytest.raises(ConfigError, match="empty"):
        wm.load_key(tmp_path / "empty.key")
    with pytest.raises(ConfigError, match="cannot read"):
        wm.load_key(tmp_path / "missing.key")
