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

Schemes (``Scheme``, named in params and in every record's provenance): ``lefthash-h1`` (the default, the
scheme above, kept for compatibility with text already marked) seeds the green list with the previous token
only; ``selfhash-hN`` (N = 2..8, Kirchenbauer et al. 2024, "On the Reliability of Watermarks for Large Language
Models") seeds it with the minimum keyed hash over the N previous tokens *and the candidate itself*: an edit
changes the seed only when it changes that minimum, so a longer context costs little robustness (at 25 %
random substitution about 52 % of h = 4 units survive intact, against 56 % for h = 1), while the green list
can no longer be read off bigram statistics of the marked text. (The reference scheme also "anchors" the min-hash
to one context token; we do not, which keeps an edit of that token from breaking the seed.)

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
from collapse_guard.text.tokenizer import batch_token_ids, token_ids, words

KEY_ENV = "COLLAPSE_GUARD_WATERMARK_KEY"
DEFAULT_SCHEME = "lefthash-h1"
MAX_CONTEXT = 8


@dataclass(frozen=True)
class Scheme:
    """How the green list is seeded: ``context`` previous tokens (h), and whether the candidate token takes
    part in the min-hash (``self_salt``). ``lefthash-h1`` is the original scheme, bit for bit."""

    name: str
    context: int
    self_salt: bool


def scheme_of(name: str | Scheme | None) -> Scheme:
    """Parse ``lefthash-h1`` or ``selfhash-hN`` (2 <= N <= 8); None means the default. ConfigError otherwise."""
    if isinstance(name, Scheme):
        return name
    name = DEFAULT_SCHEME if name is None or name == "" else str(name)
    if name == DEFAULT_SCHEME:
        return Scheme(name, 1, False)
    prefix, _, width = name.partition("-h")
    if prefix == "selfhash" and width.isdigit() and 2 <= int(width) <= MAX_CONTEXT:
        return Scheme(name, int(width), True)
    raise ConfigError(f"unknown watermark scheme {name!r} (expected {DEFAULT_SCHEME} or selfhash-hN, 2 <= N <= 8)")


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
    """What generation needs: the key, the green fraction γ, the logit bias δ (paper defaults 0.25, 2) and the
    seeding scheme's name."""

    key: WatermarkKey
    gamma: float = 0.25
    delta: float = 2.0
    scheme: str = DEFAULT_SCHEME

    def __post_init__(self) -> None:
        scheme_of(self.scheme)
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
    """The key stored in ``key_file`` (surrounding whitespace stripped), ignoring the environment. A key file
    readable by others is refused (SigningKeyError; ``COLLAPSE_GUARD_KEY_PERMISSIONS=warn`` only warns)."""
    from collapse_guard.records.signing import check_key_file_mode

    try:
        secret = Path(key_file).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the watermark key file ({exc.strerror})", path=str(key_file)) from exc
    if not secret:
        raise ConfigError("the watermark key file is empty", path=str(key_file))
    check_key_file_mode(Path(key_file), "watermark key")
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


def texts_token_ids(texts: Sequence[str]) -> list[np.ndarray]:
    """``text_token_ids`` of many texts at once: each distinct word is hashed once per batch (tokenising
    one token at a time made screening several times slower than detection itself)."""
    ids, lengths = batch_token_ids(texts)
    return np.split(ids, np.cumsum(lengths)[:-1]) if len(lengths) else []


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


def token_hashes(ids: np.ndarray, key: KeyLike) -> np.ndarray:
    """Each token's keyed 64-bit hash: the min-hash operand of ``selfhash`` (and ``lefthash``'s seed)."""
    return _context_seeds(ids, as_key(key))


def _domain(scheme: Scheme) -> np.uint64:
    """A per-scheme constant XORed into selfhash seeds, so that no two schemes share green decisions (without
    it, selfhash's seed equals lefthash's whenever the previous token holds the minimum)."""
    return np.uint64(splitmix64_int(0x5E1F + scheme.context))


def green_mask_context(
    context: np.ndarray, ids: np.ndarray, key: KeyLike, gamma: float, scheme: str | Scheme
) -> np.ndarray:
    """Generation side of any scheme: ``context`` is (rows, h') with each row's previous tokens (oldest first;
    the last ``h`` are used), ``ids`` the candidates (vocab,); returns the (rows, vocab) green mask."""
    scheme, key = scheme_of(scheme), as_key(key)
    context = np.asarray(context, dtype=np.uint64)[:, -scheme.context :]
    ids = np.asarray(ids, dtype=np.uint64)
    if not scheme.self_salt:
        return green_mask(context[:, -1:], ids[None, :], key, gamma)
    seeds = np.minimum(token_hashes(context, key).min(axis=1, keepdims=True), token_hashes(ids, key)[None, :])
    return _pair_hash(seeds ^ _domain(scheme), ids[None, :]) < _threshold(gamma)


def position_hashes(tokens: np.ndarray, key: KeyLike, scheme: str | Scheme) -> np.ndarray:
    """Detection side: the keyed (seed, token) hash of every position t >= h of one token stream (its green
    bit is ``hash < threshold``; equal hashes are the same context-token unit, scored once). Length
    ``len(tokens) - h``; position t of the stream is entry t - h. A few vectorised passes, one per context
    token (h <= 8), no per-token loop."""
    scheme, key = scheme_of(scheme), as_key(key)
    tokens = np.asarray(tokens, dtype=np.uint64)
    h = scheme.context
    if len(tokens) <= h:
        return np.zeros(0, dtype=np.uint64)
    hashed = token_hashes(tokens, key)
    if not scheme.self_salt:
        return _pair_hash(hashed[h - 1 : -1], tokens[h:])
    seeds = hashed[h:].copy()  # the candidate itself
    for back in range(1, h + 1):
        np.minimum(seeds, hashed[h - back : len(tokens) - back], out=seeds)
    return _pair_hash(seeds ^ _domain(scheme), tokens[h:])


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
    documents: Sequence[np.ndarray],
    key: KeyLike,
    gamma: float,
    ignore_repeated_pairs: bool = True,
    scheme: str | Scheme = DEFAULT_SCHEME,
) -> Detection:
    """Score a batch of documents (arrays of token ids) in one pass: concatenate, hash every (context,
    token) unit at once, drop the units whose context reaches into the document before, then sum per
    document. A document's first h tokens (h = the scheme's context) are not scored."""
    key, h = as_key(key), scheme_of(scheme).context
    lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
    if lengths.sum() == 0:
        zeros = np.zeros(len(documents), dtype=np.int64)
        return Detection(zeros, zeros, np.zeros(len(documents)), np.ones(len(documents)))
    tokens = np.concatenate([np.asarray(d, dtype=np.uint64) for d in documents])
    owner = np.repeat(np.arange(len(documents)), lengths)
    offset = np.arange(len(tokens)) - (np.cumsum(lengths) - lengths)[owner]
    inside = offset[h:] >= h  # unit t uses tokens t - h .. t: all in t's own document
    pair_hash, pair_owner = position_hashes(tokens, key, scheme)[inside], owner[h:][inside]
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


def detect_texts(
    texts: Sequence[str],
    key: KeyLike,
    gamma: float,
    ignore_repeated_pairs: bool = True,
    scheme: str | Scheme = DEFAULT_SCHEME,
) -> Detection:
    """``detect`` on raw texts, tokenised as the built-in tokenizer does."""
    return detect(texts_token_ids(texts), key, gamma, ignore_repeated_pairs, scheme)


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
    documents: Sequence[Sequence[int]],
    key: KeyLike,
    gamma: float,
    ignore_repeated_pairs: bool = True,
    scheme: str | Scheme = DEFAULT_SCHEME,
) -> list[tuple[int, int, float]]:
    """The same test written token by token in plain Python: (green, scored, z) per document.

    Deliberately straightforward; only for cross-checking ``detect`` and for the speed benchmark.
    """
    seed, scheme = as_key(key).seed, scheme_of(scheme)
    threshold, h = int(_threshold(gamma)), scheme.context
    results = []
    for document in documents:
        green = scored = 0
        seen = set()
        for t in range(h, len(document)):
            token = int(document[t])
            window = document[t - h : t + 1] if scheme.self_salt else document[t - 1 : t]
            context = min(splitmix64_int(int(x) ^ seed) for x in window)
            if scheme.self_salt:
                context ^= int(_domain(scheme))
            if ignore_repeated_pairs:
                if (context, token) in seen:
                    continue
                seen.add((context, token))
            value = splitmix64_int((context * int(GOLDEN_GAMMA) + token) & MASK_64)
            scored += 1
            green += value < threshold
        z = (green - gamma * scored) / math.sqrt(scored * gamma * (1 - gamma)) if scored else 0.0
        results.append((green, scored, z))
    return results
