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

Schemes (``Scheme``, named in params and in every record's provenance; parsed by
collapse_guard.text.params.scheme_of, so a wrong name is refused when params are loaded): ``lefthash-h1`` (the
default, the scheme above, kept for compatibility with text already marked) seeds the green list with the
previous token only; ``selfhash-hN`` (N = 2..8, Kirchenbauer et al. 2024, "On the Reliability of Watermarks for
Large Language Models"; plain ``selfhash`` means ``selfhash-h4``, the width that paper recommends) seeds it with
the minimum keyed hash over the N previous tokens *and the candidate itself*: an edit changes the seed only
when it changes that minimum, so a longer context costs little robustness (at 25 % random substitution about
52 % of h = 4 units survive intact, against 56 % for h = 1), while the green list can no longer be read off
bigram statistics of the marked text. (The reference scheme also "anchors" the min-hash to one context token;
we do not, which keeps an edit of that token from breaking the seed.)

Detection runs as one compiled pass over the tokens (collapse_guard.text.detection_kernel).

The key is read from ``COLLAPSE_GUARD_WATERMARK_KEY`` or a key file, never from params.yaml, and is never
logged: ``key_id`` (a short hash) is what provenance and logs record.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collapse_guard.errors import ConfigError
from collapse_guard.records import atomic
from collapse_guard.text.hashing import GOLDEN_GAMMA, splitmix64, splitmix64_int
from collapse_guard.text.params import (  # noqa: F401 (the scheme grammar, re-exported where schemes are used)
    DEFAULT_SCHEME,
    MAX_CONTEXT,
    SELFHASH_DEFAULT_CONTEXT,
    Scheme,
    scheme_of,
)
from collapse_guard.text.tokenizer import batch_token_ids, token_ids, words

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
    """What generation needs: the key, the green fraction γ, the logit bias δ (paper defaults 0.25, 2) and the
    seeding scheme's name."""

    key: WatermarkKey
    gamma: float = 0.25
    delta: float = 2.0
    scheme: str = DEFAULT_SCHEME

    def __post_init__(self) -> None:
        object.__setattr__(self, "scheme", scheme_of(self.scheme).name)  # canonical: "selfhash" -> "selfhash-h4"
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
@dataclass(frozen=True)
class TokenBatch:
    """Documents of token ids as the detector reads them: every id in one uint64 array, and each document's
    token count (int64). One array instead of a list of arrays: a batch tokenised at once never has to be
    split into documents and joined again."""

    ids: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, documents: TokenBatch | Sequence[np.ndarray]) -> TokenBatch:
        """A batch of arrays of token ids (a TokenBatch is returned as it is)."""
        if isinstance(documents, TokenBatch):
            return documents
        lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
        if not len(documents):
            return cls(np.zeros(0, np.uint64), lengths)
        return cls(np.concatenate([np.asarray(d, dtype=np.uint64) for d in documents]), lengths)

    @classmethod
    def of_texts(cls, texts: Sequence[str]) -> TokenBatch:
        """Raw texts, tokenised as the built-in tokenizer does (``batch_token_ids``)."""
        ids, lengths = batch_token_ids(list(texts))
        return cls(np.ascontiguousarray(ids, dtype=np.uint64), np.asarray(lengths, dtype=np.int64))

    @property
    def ends(self) -> np.ndarray:
        return np.cumsum(self.lengths)

    def __len__(self) -> int:
        return len(self.lengths)


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
    """Exact one-sided binomial tail P(X ≥ g) for X ~ Bin(T, γ); 1 where nothing was scored.

    Computed once per distinct (g, T) of the batch: the tail costs ~300 ns (an incomplete beta function),
    as much as detecting ~40 tokens, and a batch of short documents repeats few (g, T) pairs many times.
    """
    from scipy.stats import binom

    green = np.asarray(green, dtype=np.int64).reshape(-1)
    scored = np.asarray(scored, dtype=np.int64).reshape(-1)
    if len(green) < 64 or green.min(initial=0) < 0 or scored.max(initial=0) >= 1 << 31:
        return np.where(scored > 0, binom.sf(green - 1, scored, gamma), 1.0)
    pairs, inverse = np.unique((scored << 32) | green, return_inverse=True)
    distinct_green, distinct_scored = pairs & 0xFFFFFFFF, pairs >> 32
    tail = np.where(distinct_scored > 0, binom.sf(distinct_green - 1, distinct_scored, gamma), 1.0)
    return tail[inverse.reshape(-1)]


def detect(
    documents: TokenBatch | Sequence[np.ndarray],
    key: KeyLike,
    gamma: float,
    ignore_repeated_pairs: bool = True,
    scheme: str | Scheme = DEFAULT_SCHEME,
) -> Detection:
    """Score a batch of documents (arrays of token ids, or a ``TokenBatch``) in one compiled pass: each
    (context, token) unit wholly inside its document is hashed, counted once per document (unless
    ``ignore_repeated_pairs`` is False) and green when its hash is below γ·2^64. A document's first h tokens
    (h = the scheme's context) are not scored."""
    from collapse_guard.text.detection_kernel import count_units

    batch, scheme, key = TokenBatch.of(documents), scheme_of(scheme), as_key(key)
    green, scored = count_units(
        batch.ids,
        batch.ends,
        np.uint64(key.seed),
        scheme.context,
        scheme.self_salt,
        _domain(scheme),
        _threshold(gamma),
        ignore_repeated_pairs,
    )
    return Detection(green, scored, z_scores(green, scored, gamma), p_values(green, scored, gamma))
