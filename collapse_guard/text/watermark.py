"""Green-list watermark of generated text (Kirchenbauer et al. 2023, "A Watermark for Large Language Models").

Why: text a model wrote, once published, comes back in the next crawl; a watermark lets the pipeline
recognise its own generations and keep them from displacing real data (Shumailov et al. 2024).

At each step the vocabulary splits into a "green" fraction γ and the rest, seeded by the previous token
and a secret key; generation adds δ to the green logits (the paper's "soft" watermark). Detection counts
green tokens: without the bias each scored token is green with probability γ, so the count g of T scored
tokens gives z = (g − γT) / sqrt(T γ (1 − γ)), and a one-sided exact binomial p-value P(Bin(T, γ) ≥ g).

Green membership is a keyed hash of (previous token, token) mapped to [0, 1) and compared with γ: the same
partition the paper draws by permuting the vocabulary, but with no permutation per token, so it is
vectorised over whole batches in numpy uint64 arithmetic (a splitmix64 finaliser as the mixer; Steele et
al. 2014). Token ids here are 64-bit ids of token *strings* (``token_ids``), not a model's vocabulary
positions: the built-in model retrains its vocabulary every generation, and a crawl can be screened with
the key alone, whatever model wrote it.

Repeated (previous, token) pairs within a document are scored once by default: real text repeats phrases,
and counting each repeat again breaks the independence the z-test assumes, inflating false positives
(Fernandez et al. 2023, "Three Bricks to Consolidate Watermarks for Large Language Models").

The key is read from ``COLLAPSE_GUARD_WATERMARK_KEY`` or a key file, never from params.yaml, and is never
logged: ``key_id`` (a short hash) is what provenance and logs record.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collapse_guard.errors import ConfigError
from collapse_guard.records import atomic
from collapse_guard.text.hashing import GOLDEN_GAMMA, MASK_64, splitmix64, splitmix64_int
from collapse_guard.text.tokenizer import token_ids, words

KEY_ENV = "COLLAPSE_GUARD_WATERMARK_KEY"


@dataclass(frozen=True, repr=False)
class WatermarkKey:
    """A secret key. ``repr`` and ``str`` show only ``key_id``, so logging the object never leaks it."""

    secret: bytes

    @property
    def key_id(self) -> str:
        """A short hash of the key: safe to log and to store in provenance, useless for forging."""
        return hashlib.sha256(b"collapse-guard watermark key id\x00" + self.secret).hexdigest()[:12]

    @property
    def seed(self) -> int:
        """The 64-bit integer the green-list hash is keyed with."""
        return int.from_bytes(hashlib.sha256(b"collapse-guard watermark seed\x00" + self.secret).digest()[:8], "big")

    def __repr__(self) -> str:
        return f"WatermarkKey(key_id={self.key_id!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class WatermarkConfig:
    """What generation needs: the key, the green fraction γ and the logit bias δ (paper defaults 0.25, 2)."""

    key: WatermarkKey
    gamma: float = 0.25
    delta: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.gamma < 1.0:
            raise ConfigError(f"watermark gamma must be in (0, 1), got {self.gamma}")
        if self.delta < 0.0:
            raise ConfigError(f"watermark delta must be >= 0, got {self.delta}")


KeyLike = WatermarkKey | bytes | str


def as_key(key: KeyLike) -> WatermarkKey:
    """Accept a WatermarkKey, raw bytes or a string (encoded as UTF-8)."""
    if isinstance(key, WatermarkKey):
        return key
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes) or not key:
        raise ConfigError("a watermark key is non-empty bytes")
    return WatermarkKey(key)


def load_key(key_file: Path | None = None) -> WatermarkKey:
    """The key from ``COLLAPSE_GUARD_WATERMARK_KEY`` if set, else the contents of ``key_file``.

    Raises ConfigError (naming the file, never the key) when neither gives a key.
    """
    from_env = os.environ.get(KEY_ENV, "")
    if from_env:
        return as_key(from_env)
    if key_file is None:
        raise ConfigError(f"no watermark key: set {KEY_ENV} or give a key file")
    return read_key_file(Path(key_file))


def read_key_file(key_file: Path) -> WatermarkKey:
    """The key stored in ``key_file`` (surrounding whitespace stripped), ignoring the environment."""
    try:
        secret = Path(key_file).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the watermark key file ({exc.strerror})", path=str(key_file)) from exc
    if not secret:
        raise ConfigError("the watermark key file is empty", path=str(key_file))
    return WatermarkKey(secret)


def create_key_file(key_file: Path) -> WatermarkKey:
    """Write a fresh random key (64 hex characters) readable only by its owner; refuse to overwrite one,
    since text watermarked with the old key could no longer be recognised."""
    key_file = Path(key_file)
    if key_file.exists():
        raise ConfigError("a watermark key file already exists; not overwriting it", path=str(key_file))
    with atomic.atomic_path(key_file) as tmp:
        tmp.chmod(0o600)
        tmp.write_text(secrets.token_hex(32) + "\n")
    return read_key_file(key_file)


# -- token ids ----------------------------------------------------------------------------------------------
def text_token_ids(text: str) -> np.ndarray:
    """The watermark's view of a text: its word-level tokens' ids (see collapse_guard.text.tokenizer)."""
    return token_ids(words(text))


# -- green lists ----------------------------------------------------------------------------------------------
def _threshold(gamma: float) -> np.uint64:
    """Hash values below this are green: a fraction ``gamma`` of [0, 2^64), on 53-bit resolution."""
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma}")
    return np.uint64(int(gamma * (1 << 53)) << 11)


def _context_seeds(prev_ids: np.ndarray, key: WatermarkKey) -> np.ndarray:
    with np.errstate(over="ignore"):
        return splitmix64(np.asarray(prev_ids, dtype=np.uint64) ^ np.uint64(key.seed))


def _pair_hash(seeds: np.ndarray, ids: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return splitmix64(seeds * GOLDEN_GAMMA + np.asarray(ids, dtype=np.uint64))


def green_mask(prev_ids: np.ndarray, ids: np.ndarray, key: KeyLike, gamma: float) -> np.ndarray:
    """Whether each token (``ids``) is on the green list of the token before it (``prev_ids``).

    The arrays broadcast against each other, so (batch, 1) against (1, vocab) gives every row's green list.
    """
    key = as_key(key)
    return _pair_hash(_context_seeds(prev_ids, key), ids) < _threshold(gamma)


def bias_logits(
    logits: np.ndarray,
    prev_id: int | np.ndarray,
    key: KeyLike,
    gamma: float,
    delta: float,
    vocabulary_ids: np.ndarray | None = None,
) -> np.ndarray:
    """``logits`` + δ on the green list of ``prev_id``: one row (vocab,) or a batch (batch, vocab) with one
    previous token per row. ``vocabulary_ids[j]`` is the watermark id of logit column j (default: j)."""
    logits = np.asarray(logits)
    columns = np.arange(logits.shape[-1], dtype=np.uint64) if vocabulary_ids is None else vocabulary_ids
    previous = np.asarray(prev_id, dtype=np.uint64)
    if logits.ndim == 2:
        previous = previous.reshape(-1, 1)
    green = green_mask(previous, np.asarray(columns, dtype=np.uint64), key, gamma)
    return logits + delta * green


# -- detection ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Detection:
    """Per document: green tokens, tokens scored, z-score and one-sided p-value."""

    green: np.ndarray
    scored: np.ndarray
    z: np.ndarray
    p_value: np.ndarray

    def flagged(self, z_threshold: float = 4.0) -> np.ndarray:
        return self.z > z_threshold


def z_scores(green: np.ndarray, scored: np.ndarray, gamma: float) -> np.ndarray:
    """(g − γT) / sqrt(T γ (1 − γ)); 0 where nothing was scored."""
    green = np.asarray(green, dtype=np.float64)
    scored = np.asarray(scored, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (green - gamma * scored) / np.sqrt(scored * gamma * (1.0 - gamma))
    return np.where(scored > 0, z, 0.0)


def p_values(green: np.ndarray, scored: np.ndarray, gamma: float) -> np.ndarray:
    """Exact one-sided binomial tail P(X ≥ g) for X ~ Bin(T, γ); 1 where nothing was scored."""
    from scipy.stats import binom

    green = np.asarray(green, dtype=np.int64)
    return np.where(np.asarray(scored) > 0, binom.sf(green - 1, scored, gamma), 1.0)


def detect(
    documents: Sequence[np.ndarray], key: KeyLike, gamma: float, ignore_repeated_pairs: bool = True
) -> Detection:
    """Score a batch of documents (arrays of token ids) in one pass: concatenate, hash every (previous,
    token) pair at once, drop the pairs that straddle two documents, then sum per document."""
    key = as_key(key)
    lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
    if lengths.sum() == 0:
        zeros = np.zeros(len(documents), dtype=np.int64)
        return Detection(zeros, zeros, np.zeros(len(documents)), np.ones(len(documents)))
    tokens = np.concatenate([np.asarray(d, dtype=np.uint64) for d in documents])
    owner = np.repeat(np.arange(len(documents)), lengths)
    starts = np.cumsum(lengths) - lengths
    is_first = np.zeros(len(tokens), dtype=bool)
    is_first[starts[lengths > 0]] = True
    pair_hash = _pair_hash(_context_seeds(tokens[:-1], key), tokens[1:])
    inside = ~is_first[1:]  # pair i joins tokens i and i + 1; it straddles two documents if i + 1 starts one
    pair_hash, pair_owner = pair_hash[inside], owner[1:][inside]
    is_green = pair_hash < _threshold(gamma)
    if ignore_repeated_pairs:
        green, scored = _count_distinct_pairs(pair_hash, is_green, pair_owner, len(documents))
    else:
        green = np.bincount(pair_owner, weights=is_green, minlength=len(documents)).astype(np.int64)
        scored = np.bincount(pair_owner, minlength=len(documents)).astype(np.int64)
    return Detection(green, scored, z_scores(green, scored, gamma), p_values(green, scored, gamma))


def _count_distinct_pairs(
    pair_hash: np.ndarray, is_green: np.ndarray, owner: np.ndarray, documents: int
) -> tuple[np.ndarray, np.ndarray]:
    """Green and scored counts per document over *distinct* (previous, token) pairs, with one plain sort.

    Each pair becomes one uint64: its document in the top bits, its keyed hash below, its green bit last
    (equal pairs have equal green bits, so they still collide). Pairs whose hashes agree in the kept bits
    (chance ~ length² / 2^(63 − document bits) per document) would be counted once: negligible.
    """
    owner_bits = max(1, (documents - 1).bit_length())
    hash_shift = np.uint64(owner_bits + 1)
    packed = (
        (owner.astype(np.uint64) << np.uint64(64 - owner_bits))
        | ((pair_hash >> hash_shift) << np.uint64(1))
        | is_green.astype(np.uint64)
    )
    packed.sort()
    first_of_run = np.ones(len(packed), dtype=bool)
    first_of_run[1:] = packed[1:] != packed[:-1]
    distinct = packed[first_of_run]
    distinct_owner = (distinct >> np.uint64(64 - owner_bits)).astype(np.int64)
    green = np.bincount(distinct_owner, weights=(distinct & np.uint64(1)).astype(bool), minlength=documents)
    scored = np.bincount(distinct_owner, minlength=documents)
    return green.astype(np.int64), scored.astype(np.int64)


def _first_occurrences(pair_hash: np.ndarray) -> np.ndarray:
    """True at the first occurrence of each pair (identified by its keyed 64-bit hash) in one document."""
    _, first = np.unique(pair_hash, return_index=True)
    mask = np.zeros(len(pair_hash), dtype=bool)
    mask[first] = True
    return mask


def detect_texts(texts: Sequence[str], key: KeyLike, gamma: float, ignore_repeated_pairs: bool = True) -> Detection:
    """``detect`` on raw texts, tokenised as the built-in tokenizer does."""
    return detect([text_token_ids(t) for t in texts], key, gamma, ignore_repeated_pairs)


@dataclass(frozen=True)
class WindowedDetection:
    """The best window: its z-score, one-sided p-value and where it starts (token index of its first
    scored token's predecessor), plus how many windows were compared (for a multiple-testing correction)."""

    z: float
    p_value: float
    start: int
    windows: int


def detect_windowed(
    ids: np.ndarray, key: KeyLike, gamma: float, window: int = 200, ignore_repeated_pairs: bool = True
) -> WindowedDetection:
    """The highest z over all windows of ``window`` consecutive token pairs (cumulative sums, no loop):
    finds a watermarked passage pasted into longer human text, whose own z the surrounding text dilutes.

    The max over many windows is not a single test: compare ``p_value`` × ``windows`` (Bonferroni) with the
    level you want, or use a higher z threshold for long texts.
    """
    key = as_key(key)
    ids = np.asarray(ids, dtype=np.uint64)
    if len(ids) < 2:
        return WindowedDetection(0.0, 1.0, 0, 0)
    pair_hash = _pair_hash(_context_seeds(ids[:-1], key), ids[1:])
    scored = _first_occurrences(pair_hash) if ignore_repeated_pairs else np.ones(len(pair_hash), dtype=bool)
    green = scored & (pair_hash < _threshold(gamma))
    width = min(window, len(pair_hash))
    green_sum = _window_sums(green, width)
    scored_sum = _window_sums(scored, width)
    z = z_scores(green_sum, scored_sum, gamma)
    best = int(np.argmax(z))
    p = float(p_values(green_sum[best : best + 1], scored_sum[best : best + 1], gamma)[0])
    return WindowedDetection(float(z[best]), p, best, len(z))


def _window_sums(flags: np.ndarray, width: int) -> np.ndarray:
    running = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return running[width:] - running[:-width]


# -- reference implementation ---------------------------------------------------------------------------------
def detect_reference(
    documents: Sequence[Sequence[int]], key: KeyLike, gamma: float, ignore_repeated_pairs: bool = True
) -> list[tuple[int, int, float]]:
    """The same test written token by token in plain Python: (green, scored, z) per document.

    Deliberately straightforward; only for cross-checking ``detect`` and for the speed benchmark.
    """
    seed = as_key(key).seed
    threshold = int(_threshold(gamma))
    results = []
    for document in documents:
        green = scored = 0
        seen = set()
        for previous, token in zip(document[:-1], document[1:], strict=False):
            if ignore_repeated_pairs:
                if (previous, token) in seen:
                    continue
                seen.add((previous, token))
            context = splitmix64_int(int(previous) ^ seed)
            value = splitmix64_int((context * int(GOLDEN_GAMMA) + int(token)) & MASK_64)
            scored += 1
            green += value < threshold
        z = (green - gamma * scored) / math.sqrt(scored * gamma * (1 - gamma)) if scored else 0.0
        results.append((green, scored, z))
    return results
