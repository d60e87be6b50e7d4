"""A word-level tokenizer: lowercase words and single punctuation marks, with a vocabulary built from a corpus.

Word level keeps the built-in model small and makes the rare-token metrics readable (a rare token is a
rare word, the tail that recursive training erases first: Shumailov et al. 2024). Every token is either
a run of word characters or one other non-space character, so ``decode`` followed by ``words`` gives
the same tokens back: the watermark detector can re-tokenise generated text without the model.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from collapse_guard.errors import DataError
from collapse_guard.records import atomic

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}%")
_NO_SPACE_AFTER = frozenset("([{")
_APOSTROPHES = frozenset("'’")
_CONTRACTIONS = frozenset({"s", "t", "re", "ll", "ve", "d", "m"})


def words(text: str) -> list[str]:
    """The token strings of ``text``: lowercase words and punctuation marks, in order."""
    return TOKEN_PATTERN.findall(text.lower())


_TOKEN_ID_CACHE: dict[str, int] = {}
_TOKEN_ID_CACHE_LIMIT = 1_000_000


def token_id(token: str) -> int:
    """A stable 64-bit id of a token string (BLAKE2b): the same in every process and for every vocabulary,
    so watermark detection and near-duplicate hashing do not depend on which model's vocabulary is in use."""
    cached = _TOKEN_ID_CACHE.get(token)
    if cached is None:
        cached = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
        if len(_TOKEN_ID_CACHE) < _TOKEN_ID_CACHE_LIMIT:
            _TOKEN_ID_CACHE[token] = cached
    return cached


def token_ids(tokens: Sequence[str]) -> np.ndarray:
    """``token_id`` of each token, as uint64."""
    return np.fromiter((token_id(t) for t in tokens), dtype=np.uint64, count=len(tokens))


def batch_token_ids(texts: Sequence[str], hash_mask: int = (1 << 64) - 1) -> tuple[np.ndarray, np.ndarray]:
    """Every text's ``token_ids``, concatenated (uint64), and each text's token count (int64).

    Why: tokenising millions of short documents one at a time in Python is the slow part of screening. The
    batch is split and lowercased in one compiled pass over its code points (collapse_guard.text.token_scan;
    5-8x faster than the regex, benchmarks/text_tokenize.py), which also finds the distinct tokens, so each
    is hashed once per batch.
    Texts holding a character whose lowercase depends on its context ('Σ', 'İ') take the regex. Equal, id
    for id, to ``token_ids(words(t))`` for each text. ``hash_mask`` only narrows the scan's internal hash
    (tests force collisions with it).
    """
    from collapse_guard.text.token_scan import code_point_table, scan

    texts = list(texts)
    joined = "".join(texts)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    tokens, lengths, special, starts, sizes = scan(codes, ends, code_point_table(), np.uint64(hash_mask))
    ids = distinct_token_ids(joined, starts, sizes)[tokens]
    if not special.any():
        return ids, lengths
    fallback = {int(t): token_ids(words(texts[t])) for t in np.flatnonzero(special)}
    for t, regex_ids in fallback.items():
        lengths[t] = len(regex_ids)
    merged = np.empty(int(lengths.sum()), dtype=np.uint64)
    from_regex = np.repeat(special, lengths)
    merged[~from_regex] = ids
    merged[from_regex] = np.concatenate(list(fallback.values()))
    return merged, lengths


def distinct_token_ids(joined: str, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``token_id`` of each distinct token the scan found, from its first occurrence in the batch's text: the
    id comes from the token's own string, whatever the scan's table says (lowercasing one token alone is
    lowercasing it in its text, for all but the characters the scan leaves to the regex)."""
    pieces = zip(starts.tolist(), sizes.tolist(), strict=True)
    return np.fromiter((token_id(joined[s : s + n].lower()) for s, n in pieces), dtype=np.uint64, count=len(starts))


def detokenize(tokens: Iterable[str]) -> str:
    """Join tokens into readable text. Two words always keep a space between them, so ``words`` inverts it."""
    tokens = list(tokens)
    pieces: list[str] = []
    for i, token in enumerate(tokens):
        if i and not _glued(tokens, i):
            pieces.append(" ")
        pieces.append(token)
    return "".join(pieces)


def _glued(tokens: list[str], i: int) -> bool:
    """No space between token ``i - 1`` and token ``i``: punctuation hugs its word, "it ' s" reads "it's"."""
    previous, token = tokens[i - 1], tokens[i]
    if token in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER:
        return True
    if token in _APOSTROPHES:
        return i + 1 < len(tokens) and tokens[i + 1] in _CONTRACTIONS
    return previous in _APOSTROPHES and token in _CONTRACTIONS and i >= 2 and tokens[i - 2][:1].isalnum()


class Tokenizer:
    """Token strings <-> integer ids. Ids 0-3 are the specials; unknown words map to ``<unk>``."""

    def __init__(self, vocabulary: list[str]) -> None:
        if list(vocabulary[: len(SPECIALS)]) != list(SPECIALS):
            raise ValueError(f"a vocabulary starts with the special tokens {SPECIALS}")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("a vocabulary has no repeated tokens")
        self.vocabulary = list(vocabulary)
        self.index = {token: i for i, token in enumerate(self.vocabulary)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 2, max_size: int = 8000) -> Tokenizer:
        """The ``max_size`` most frequent tokens seen at least ``min_count`` times (ties by first sight)."""
        counts = Counter(token for text in texts for token in words(text))
        frequent = [token for token, count in counts.most_common() if count >= min_count and token not in SPECIALS]
        return cls([*SPECIALS, *frequent[: max(max_size - len(SPECIALS), 0)]])

    def __len__(self) -> int:
        return len(self.vocabulary)

    @property
    def unk_id(self) -> int:
        return self.index[UNK]

    @property
    def bos_id(self) -> int:
        return self.index[BOS]

    @property
    def eos_id(self) -> int:
        return self.index[EOS]

    @property
    def pad_id(self) -> int:
        return self.index[PAD]

    def encode(self, text: str, add_boundaries: bool = False) -> np.ndarray:
        """Token ids of ``text`` (int64); with ``add_boundaries``, wrapped in ``<bos>`` ... ``<eos>``."""
        unk = self.unk_id
        ids = [self.index.get(token, unk) for token in words(text)]
        if add_boundaries:
            ids = [self.bos_id, *ids, self.eos_id]
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """Readable text of ``ids``, without ``<pad>``, ``<bos>`` and ``<eos>``."""
        hidden = {self.pad_id, self.bos_id, self.eos_id}
        return detokenize(self.vocabulary[int(i)] for i in ids if int(i) not in hidden)

    def save(self, path: Path) -> None:
        atomic.write_json(Path(path), {"format": "collapse-guard-word-tokenizer/1", "vocabulary": self.vocabulary})

    @classmethod
    def load(cls, path: Path) -> Tokenizer:
        path = Path(path)
        try:
            return cls(json.loads(path.read_text(encoding="utf-8"))["vocabulary"])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DataError(f"not a tokenizer file ({type(exc).__name__}: {exc})", path=str(path)) from exc
