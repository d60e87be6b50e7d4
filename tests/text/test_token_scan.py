"""The compiled token scan gives exactly the regex tokenizer's ids: watermarks and dedup signatures depend on it."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collapse_guard.text.token_scan import CLASS_SHIFT, OTHER, SPACE, SPECIAL, WORD, code_point_table
from collapse_guard.text.tokenizer import batch_token_ids, words
from tests.text.tokenizer_oracle import regex_batch_token_ids

# Any code point (lone surrogates included: they fail UTF-8 hashing on both paths, tested apart as well), and
# characters the scan must get right that a random draw would rarely hit: context-dependent lowercasing,
# Unicode whitespace, the regex path's document break, combining marks, digits of other scripts, CJK,
# astral word characters.
TRICKY = "İΣσςAaZz_09 \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2028\u3000\x01\u0301\u0307中文١٢\U0001d400"
CHARACTERS = st.one_of(st.characters(exclude_categories=()), st.sampled_from(TRICKY))
BATCHES = st.lists(st.lists(CHARACTERS, max_size=30).map("".join), max_size=6)
FULL_HASH = (1 << 64) - 1


def outcome(tokenise, texts):
    """Ids and lengths, or the exception's type (a lone surrogate cannot be hashed as UTF-8 on either path)."""
    try:
        return tokenise(texts)
    except UnicodeEncodeError:
        return UnicodeEncodeError


def assert_same(texts, hash_mask=FULL_HASH):
    fast = outcome(lambda t: batch_token_ids(t, hash_mask), texts)
    reference = outcome(regex_batch_token_ids, texts)
    if reference is UnicodeEncodeError or fast is UnicodeEncodeError:
        assert fast is reference
        return
    assert fast[0].dtype == np.uint64 and fast[1].dtype == np.int64
    assert np.array_equal(fast[0], reference[0]) and np.array_equal(fast[1], reference[1])


@given(BATCHES, st.sampled_from([FULL_HASH, 0, 1]))
def test_scan_equals_regex_on_arbitrary_unicode(texts, hash_mask):
    assert_same(texts, hash_mask)


def test_scan_equals_regex_on_edge_cases():
    assert_same([])
    assert_same(["", "", ""])
    assert_same(["ΣΑΣ Σ", "ΌΣΟΣ σ", "İstanbul", "plain text, here."])  # regex texts between compiled ones
    assert_same(["a\x01b", "Hello, World! It's 3.5 (ok)"])
    assert outcome(regex_batch_token_ids, ["ok \ud800"]) is UnicodeEncodeError
    assert_same(["ok \ud800", "fine"])
    assert_same(["\ud83d\ude00 pair of surrogates", "fine"])
    assert_same(["ΣΑΣ σας σασ"])  # Σ lowers by context: the regex takes the text, tokens stay apart


def test_forced_hash_collisions_stay_exact():
    """Every token hashing alike (mask 0), or into two values (mask 1): the table compares code points, so
    distinct tokens keep distinct ids and equal ones share one, exactly as the regex path says."""
    texts = ["the cat sat on the mat", "The Cat, THE MAT; tha cet", "ab ba a b aa bb _ __"]
    for hash_mask in (0, 1):
        assert_same(texts, hash_mask)
    ids, lengths = batch_token_ids(texts, hash_mask=0)
    assert len(set(ids.tolist())) == len({token for text in texts for token in words(text)})
    assert ids[0] == ids[4] != ids[1]  # "the" twice, "cat" apart
    assert lengths.tolist() == [6, 8, 8]


def test_code_point_table_is_pythons_lowercasing_and_regex_classes():
    """Checked for every code point against ``str.lower`` and the ``re`` classes the tokenizer uses."""
    table = code_point_table()
    characters = [chr(c) for c in range(len(table))]
    lowered = [c.lower() for c in characters]
    special = [i for i, low in enumerate(lowered) if len(low) != 1]
    assert special == [0x130]  # 'İ'; 'Σ' is the other (its lowercase depends on context)
    kinds = table >> CLASS_SHIFT
    assert set(np.flatnonzero(kinds == SPECIAL).tolist()) == {0x130, 0x3A3}
    ordinary = np.ones(len(table), dtype=bool)
    ordinary[[0x130, 0x3A3]] = False
    expected_lowered = np.fromiter((ord(low[0]) for low in lowered), dtype=np.uint32, count=len(table))
    assert np.array_equal((table & 0xFFFFFF)[ordinary], expected_lowered[ordinary])
    word, space = re.compile(r"\w"), re.compile(r"\s")
    expected_kind = np.fromiter(
        (WORD if word.match(low) else SPACE if space.match(low) else OTHER for low in lowered),
        dtype=np.uint32,
        count=len(table),
    )
    assert np.array_equal(kinds[ordinary], expected_kind[ordinary])


@pytest.mark.parametrize("text", ["ΣΑΣ", "x İ y"])
def test_context_dependent_lowercasing_takes_the_regex(text):
    """The scan leaves these texts to the regex (their count is the regex's, not 0)."""
    ids, lengths = batch_token_ids(["a b", text, "c"])
    reference_ids, reference_lengths = regex_batch_token_ids(["a b", text, "c"])
    assert lengths[1] > 0 and np.array_equal(ids, reference_ids) and np.array_equal(lengths, reference_lengths)
