import pytest
from hypothesis import given
from hypothesis import strategies as st

from collapse_guard.errors import DataError
from collapse_guard.text.tokenizer import BOS, EOS, SPECIALS, UNK, Tokenizer, detokenize, token_ids, words


def test_words_are_lowercase_words_and_single_punctuation():
    expected = ["hello", ",", "world", "!", "it", "'", "s", "3", ".", "5", "(", "ok", ")"]
    assert words("Hello, World! It's 3.5 (ok)") == expected


@given(st.text(max_size=200))
def test_detokenize_inverts_words(text):
    tokens = words(text)
    assert words(detokenize(tokens)) == tokens


def test_vocabulary_respects_min_count_and_max_size():
    texts = ["a a a b b c", "a b d"]
    assert Tokenizer.build(texts, min_count=2).vocabulary == [*SPECIALS, "a", "b"]
    assert Tokenizer.build(texts, min_count=1, max_size=len(SPECIALS) + 1).vocabulary == [*SPECIALS, "a"]


def test_encode_decode_round_trip_and_unknowns(tmp_path):
    tokenizer = Tokenizer.build(["the cat sat on the mat.", "the dog sat."], min_count=1)
    ids = tokenizer.encode("The cat sat on the zebra.", add_boundaries=True)
    assert ids[0] == tokenizer.index[BOS] and ids[-1] == tokenizer.index[EOS]
    assert tokenizer.index[UNK] in ids
    assert tokenizer.decode(tokenizer.encode("The dog sat on the mat.")) == "the dog sat on the mat."
    tokenizer.save(tmp_path / "tok.json")
    assert Tokenizer.load(tmp_path / "tok.json").vocabulary == tokenizer.vocabulary
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        Tokenizer.load(tmp_path / "bad.json")


def test_token_ids_are_stable_64_bit_hashes_of_strings():
    ids = token_ids(["the", "cat", "the"])
    assert ids.dtype.name == "uint64" and ids[0] == ids[2] != ids[1]
    assert int(ids[0]) == 0x2E3A97906CABDA5E  # pinned: watermarks and dedup hashes must not change between versions
