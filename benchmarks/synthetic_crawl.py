"""A generated crawl and anchor for the scale benchmark (benchmarks/scale_screening.py), written in chunks so
that 10M documents never sit in memory, with the ground truth of everything planted in it.

Documents are 10-40 words from a Zipf vocabulary of 20,000 words (benchmarks/text_dedup.py). Planted in the
crawl, by share of its documents:

- 5 % near-copies of an earlier crawl document (one word replaced), up to a chunk back (so most cross the
  screening's batches);
- 1 % exact copies of an earlier crawl document (upper-cased, extra spaces: the same normalised tokens);
- 1 % near-copies of an anchor document (one word replaced);
- 0.5 % watermarked documents of 30-40 words, generated with the project's green-list watermark
  (collapse_guard.text.watermark.green_mask under a key made and recorded by collapse_guard.text.keyring):
  each word is the first green one of 16 Zipf draws, i.e. Zipf sampling with the green list's bias.

The truth (``truth.npz``) names each planted row's kind, its source row and, for near-copies, the true
shingle Jaccard similarity to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from collapse_guard.text.keyring import current_key, record_key, registry_path
from collapse_guard.text.watermark import DEFAULT_SCHEME, WatermarkKey, create_key_file, green_mask, text_token_ids

VOCABULARY = 20_000
CHUNK = 200_000
GAMMA = 0.25
KINDS = ("original", "near_crawl", "exact_crawl", "near_anchor", "watermarked")
SHARES = {"near_crawl": 0.05, "exact_crawl": 0.01, "near_anchor": 0.01, "watermarked": 0.005}
CANDIDATES = 16  # Zipf draws per watermarked word; the first green one is taken (0.75^16 = 1 % none green)


class _Vocabulary:
    def __init__(self) -> None:
        self.words = np.array([f"w{i}" for i in range(VOCABULARY)])
        zipf = 1.0 / np.arange(1, VOCABULARY + 1)
        self.cumulative = np.cumsum(zipf / zipf.sum())
        self.ids = np.array([text_token_ids(w)[0] for w in self.words], dtype=np.uint64)

    def draw(self, rng: np.random.Generator, size) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cumulative, rng.random(size)), VOCABULARY - 1)

    def text(self, document: np.ndarray) -> str:
        return " ".join(self.words[document].tolist())


def shingle_jaccard(a: np.ndarray, b: np.ndarray, size: int = 3) -> float:
    first = {tuple(a[i : i + size]) for i in range(len(a) - size + 1)}
    second = {tuple(b[i : i + size]) for i in range(len(b) - size + 1)}
    return len(first & second) / max(len(first | second), 1)


def _documents(vocabulary: _Vocabulary, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    lengths = rng.integers(10, 41, size=n)
    tokens = vocabulary.draw(rng, int(lengths.sum()))
    return np.split(tokens, np.cumsum(lengths)[:-1])


def _watermarked(vocabulary: _Vocabulary, rng: np.random.Generator, n: int, key: WatermarkKey) -> list[np.ndarray]:
    """``n`` documents of 30-40 words, each word the first green one (under the previous word, lefthash-h1)
    of ``CANDIDATES`` Zipf draws."""
    lengths = rng.integers(30, 41, size=n)
    out = np.zeros((n, int(lengths.max()) if n else 0), dtype=np.int64)
    if not n:
        return []
    out[:, 0] = vocabulary.draw(rng, n)
    for position in range(1, out.shape[1]):
        candidates = vocabulary.draw(rng, (n, CANDIDATES))
        green = green_mask(vocabulary.ids[out[:, position - 1]][:, None], vocabulary.ids[candidates], key, GAMMA)
        first = np.where(green.any(axis=1), green.argmax(axis=1), 0)
        out[:, position] = candidates[np.arange(n), first]
    return [row[:length] for row, length in zip(out, lengths, strict=True)]


def make_key(folder: Path) -> tuple[WatermarkKey, tuple[str, ...]]:
    """A key made and recorded the way ``init`` does (key file + the workspace's key record), read back."""
    key_file = Path(folder) / "watermark.key"
    if not key_file.exists():
        record_key(registry_path(key_file), create_key_file(key_file), DEFAULT_SCHEME)
    return current_key(key_file, registry_path(key_file)), (DEFAULT_SCHEME,)


def _write(handle, vocabulary: _Vocabulary, documents: list[np.ndarray], upper: np.ndarray | None = None) -> None:
    lines = []
    for i, document in enumerate(documents):
        text = vocabulary.text(document)
        if upper is not None and upper[i]:
            text = "  " + text.upper().replace(" ", "   ")
        lines.append(json.dumps({"text": text}) + "\n")
    handle.write("".join(lines))


def generate(folder: Path, crawl_size: int, anchor_size: int, seed: int = 0) -> dict:
    """Write ``anchor.jsonl``, ``crawl.jsonl`` and ``truth.npz`` into ``folder`` (skipped if already there
    for these sizes); returns the paths and the planted counts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / "sizes.json"
    key, schemes = make_key(folder)
    paths = {"anchor": folder / "anchor.jsonl", "crawl": folder / "crawl.jsonl", "truth": folder / "truth.npz"}
    wanted = {"crawl": crawl_size, "anchor": anchor_size, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return {**paths, "key": key, "schemes": schemes}
    vocabulary, rng = _Vocabulary(), np.random.default_rng(seed)
    pool_anchor: list[np.ndarray] = []
    with open(paths["anchor"], "w") as handle:
        for start in range(0, anchor_size, CHUNK):
            documents = _documents(vocabulary, rng, min(CHUNK, anchor_size - start))
            if len(pool_anchor) < CHUNK:
                pool_anchor += documents[: CHUNK - len(pool_anchor)]
            _write(handle, vocabulary, documents)
    kind = np.zeros(crawl_size, dtype=np.int8)
    source = np.full(crawl_size, -1, dtype=np.int64)
    jaccard = np.zeros(crawl_size)
    previous: list[np.ndarray] = []
    with open(paths["crawl"], "w") as handle:
        for start in range(0, crawl_size, CHUNK):
            size = min(CHUNK, crawl_size - start)
            documents = _documents(vocabulary, rng, size)
            draw = rng.random(size)
            edges = np.cumsum([SHARES[k] for k in KINDS[1:]])
            kinds = np.where(draw < edges[-1], np.searchsorted(edges, draw, side="right") + 1, 0)
            if start == 0:
                kinds[:1000] = 0  # the first documents have nothing earlier to copy
            marked = np.flatnonzero(kinds == KINDS.index("watermarked"))
            for row, document in zip(marked, _watermarked(vocabulary, rng, len(marked), key), strict=True):
                documents[row] = document
            upper = np.zeros(size, dtype=bool)
            for row in np.flatnonzero((kinds > 0) & (kinds != KINDS.index("watermarked"))):
                name = KINDS[kinds[row]]
                if name == "near_anchor":
                    if not pool_anchor:
                        kinds[row] = 0
                        continue
                    src = int(rng.integers(len(pool_anchor)))
                    original = pool_anchor[src]
                else:  # an earlier crawl document: this chunk's or the one before
                    back = int(rng.integers(1, len(previous) + row + 1))
                    src = start + row - back
                    original = documents[row - back] if back <= row else previous[len(previous) + row - back]
                copy = original.copy()
                if name != "exact_crawl":
                    copy[int(rng.integers(len(copy)))] = int(rng.integers(VOCABULARY))
                    jaccard[start + row] = shingle_jaccard(copy, original)
                else:
                    upper[row] = True
                    jaccard[start + row] = 1.0
                documents[row], source[start + row] = copy, src
            kind[start : start + size] = kinds
            _write(handle, vocabulary, documents, upper)
            previous = documents
    np.savez(paths["truth"], kind=kind, source=source, jaccard=jaccard)
    stamp.write_text(json.dumps(wanted))
    return {**paths, "key": key, "schemes": schemes}
