"""Seeding schemes (lefthash-h1, selfhash-hN) and the WinMax scan with its calibrated false-positive rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.errors import ConfigError
from collapse_guard.modality.registry import load_params
from collapse_guard.text import watermark as wm
from collapse_guard.text import winmax
from tests.conftest import TINY_TEXT, write_params
from tests.text.conftest import TEST_KEY
from tests.text.detection_oracle import detect_reference

GAMMA = 0.25
SCHEMES = ["lefthash-h1", "selfhash-h2", "selfhash-h4"]
streams = st.lists(st.integers(0, 12), max_size=70).map(lambda xs: np.asarray(xs, dtype=np.uint64))


def _marked_stream(length: int, scheme: str, rng: np.random.Generator, vocabulary: int = 5000) -> np.ndarray:
    """Tokens drawn uniformly, except each step picks a green token whenever one of 8 candidates is green:
    a strongly marked stream, generated with the scheme's own generation-side green lists."""
    tokens = list(rng.integers(0, vocabulary, wm.MAX_CONTEXT).astype(np.uint64))
    for _ in range(length):
        candidates = rng.integers(0, vocabulary, 8).astype(np.uint64)
        green = wm.green_mask_context(np.asarray([tokens]), candidates, TEST_KEY, GAMMA, scheme)[0]
        tokens.append(candidates[np.argmax(green)] if green.any() else candidates[0])
    return np.asarray(tokens[wm.MAX_CONTEXT :], dtype=np.uint64)


def test_scheme_names_parse_and_unknown_ones_are_config_errors():
    assert wm.scheme_of(None) == wm.Scheme("lefthash-h1", 1, False)
    assert wm.scheme_of("selfhash-h4") == wm.Scheme("selfhash-h4", 4, True)
    assert wm.scheme_of("selfhash") == wm.Scheme(f"selfhash-h{wm.SELFHASH_DEFAULT_CONTEXT}", 4, True)
    assert wm.WatermarkConfig(TEST_KEY, scheme="selfhash").scheme == "selfhash-h4"  # recorded with its width
    for bad in ("selfhash-h1", "selfhash-h9", "selfhash-h04", "lefthash-h2", "minhash", "selfhash-"):
        with pytest.raises(ConfigError, match="unknown watermark scheme"):
            wm.scheme_of(bad)
    with pytest.raises(ConfigError):
        wm.WatermarkConfig(TEST_KEY, scheme="nope")


def test_a_scheme_name_is_checked_when_params_are_loaded_overrides_included(tmp_path):
    path = write_params(tmp_path, "examples/text/params.yaml", TINY_TEXT)
    with pytest.raises(ConfigError) as caught:
        load_params(path, {"text.watermark.scheme": "bogus"})
    assert caught.value.exit_code == 2
    assert "text.watermark.scheme" in str(caught.value) and "'bogus'" in str(caught.value)
    assert str(path) in str(caught.value)
    assert load_params(path, {"text.watermark.scheme": "selfhash"}).text.watermark.scheme == "selfhash-h4"
    in_the_file = write_params(
        tmp_path, "examples/text/params.yaml", TINY_TEXT, text={"watermark": {"scheme": "selfhash-h9"}}
    )
    with pytest.raises(ConfigError, match="text.watermark.scheme"):
        load_params(in_the_file)


def test_lefthash_generation_side_is_the_original_green_list():
    context = np.arange(30, dtype=np.uint64)[:, None]
    vocabulary = np.arange(400, dtype=np.uint64)
    expected = wm.green_mask(context, vocabulary[None, :], TEST_KEY, GAMMA)
    np.testing.assert_array_equal(wm.green_mask_context(context, vocabulary, TEST_KEY, GAMMA, "lefthash-h1"), expected)


@settings(max_examples=40, deadline=None)
@given(st.lists(streams, max_size=8), st.sampled_from(SCHEMES), st.booleans())
def test_detect_equals_the_reference_for_every_scheme(documents, scheme, ignore_repeats):
    fast = wm.detect(documents, TEST_KEY, GAMMA, ignore_repeats, scheme)
    slow = detect_reference([d.tolist() for d in documents], TEST_KEY, GAMMA, ignore_repeats, scheme)
    assert fast.green.tolist() == [g for g, _, _ in slow]
    assert fast.scored.tolist() == [s for _, s, _ in slow]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_generation_and_detection_sides_agree(scheme):
    """Tokens chosen green by the generation side are green to detection: the two sides share one PRF."""
    marked = _marked_stream(150, scheme, np.random.default_rng(1))
    found = wm.detect([marked], TEST_KEY, GAMMA, scheme=scheme)
    assert found.green[0] / found.scored[0] > 0.85 and found.z[0] > 10
    other = wm.detect([marked], TEST_KEY, GAMMA, scheme=next(s for s in SCHEMES if s != scheme))
    assert other.z[0] < 4


def test_selfhash_survives_substitutions_about_as_well_as_lefthash():
    """A longer context costs little robustness: the min-hash seed changes only when the minimum does."""
    rng = np.random.default_rng(2)
    kept = {}
    for scheme in ("lefthash-h1", "selfhash-h4"):
        marked = _marked_stream(400, scheme, rng)
        edited = marked.copy()
        where = rng.choice(len(edited), len(edited) // 4, replace=False)
        edited[where] = rng.integers(10_000, 20_000, len(where)).astype(np.uint64)
        found = wm.detect([edited], TEST_KEY, GAMMA, scheme=scheme)
        kept[scheme] = found.green[0] / found.scored[0]
    assert kept["selfhash-h4"] > 0.45 and kept["lefthash-h1"] > 0.45  # 0.25 if the mark were gone


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=0, max_size=150), st.sampled_from(SCHEMES))
def test_scan_is_at_least_the_whole_document_and_its_span_is_inside(tokens, scheme):
    ids = np.asarray(tokens, dtype=np.uint64)
    result = winmax.scan([ids], TEST_KEY, GAMMA, scheme)
    whole = wm.detect([ids], TEST_KEY, GAMMA, scheme=scheme)
    assert result.p_value[0] <= whole.p_value[0] + 1e-12
    assert 0 <= result.start[0] <= result.end[0] <= max(len(ids), wm.scheme_of(scheme).context)
    assert 0 < result.adjusted_p[0] <= 1 and result.windows[0] >= (len(ids) > wm.scheme_of(scheme).context)


@pytest.mark.parametrize("scheme", ["lefthash-h1", "selfhash-h4"])
def test_scan_finds_a_planted_span_and_where_it_is(scheme):
    rng = np.random.default_rng(3)
    real = rng.integers(0, 2**40, 1000).astype(np.uint64)
    passage = _marked_stream(100, scheme, rng)
    mixed = np.concatenate([real[:600], passage, real[600:900]])
    result = winmax.scan([mixed, real], TEST_KEY, GAMMA, scheme, fpr=1e-4)
    assert result.verdict.tolist() == [winmax.MARKED, winmax.CLEAN]
    assert abs(int(result.start[0]) - 600) < 25 and abs(int(result.end[0]) - 700) < 25
    assert wm.detect([mixed], TEST_KEY, GAMMA, scheme=scheme).p_value[0] > result.adjusted_p[0]


def test_repeated_units_are_scored_once_in_the_scan():
    repeated = np.tile(np.arange(10, dtype=np.uint64), 30)
    result = winmax.scan([repeated], TEST_KEY, GAMMA)
    assert result.scored[0] <= 10


@pytest.mark.parametrize("length", [40, 300])
def test_false_positive_rate_is_calibrated_on_unmarked_streams(length):
    """Simulated null documents: the 'marked' rate stays below the requested rate (a Bonferroni bound, so it
    may be lower), and the uncertain band catches more than the marked verdict does."""
    rng = np.random.default_rng(length)
    documents = list(rng.integers(0, 2**62, (3000, length)).astype(np.uint64))
    result = winmax.scan(documents, TEST_KEY, GAMMA, fpr=0.02, uncertain_fpr=0.1)
    marked = result.marked.mean()
    assert marked <= 0.02 * 1.5
    assert marked >= 0.02 / 20  # not uselessly conservative
    assert (result.verdict != winmax.CLEAN).mean() <= 0.1 * 1.5
    assert (result.verdict != winmax.CLEAN).mean() > marked
