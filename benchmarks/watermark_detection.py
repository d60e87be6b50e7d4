"""Watermark detection against its floor, and the screen a crawl goes through, compiled and in numpy.

On ≥ 1M tokens of two corpora — real English (documents of 20-200 words cut at random from the default corpus)
and a Zipf vocabulary (200,000 made-up words, exponent 1.1, the same document lengths) — prints, per stage,
CPU seconds and wall seconds (best of ``--repeats``) and ns per token, with the load average:

* two floors, fused single-pass loops written here the plainest way: per token its keyed hash, its unit's
  hash and the green count of its document (``floor, every pair``), plus a per-document set of units
  (``floor, distinct pairs``: the least the distinct-pair rule adds);
* ``detect`` on token ids (the compiled pass, collapse_guard.text.detection_kernel), distinct pairs (the
  default) and every pair, lefthash-h1 and selfhash-h4, and the numpy implementation kept as its test
  oracle (tests/text/detection_oracle.py) on the same ids;
* tokenise + detect (``detect_texts``), against the numpy path (``texts_token_ids`` then the numpy detect);
* the whole screen a crawl goes through (``WatermarkScreen.scores`` with one key: tokenise, whole-text test,
  WinMax window scan, the table), against the numpy path (tokenise, the numpy detect and the numpy scan);

then the targets as ratios of CPU seconds: detect ≤ 3× its floor; tokenise + detect ≤ 1.5× detect on ids;
the whole screen ≤ 3× detect on ids. The two paths are checked equal on every batch before timing.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/watermark_detection.py [--tokens 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collapse_guard.offline import apply_offline_defaults

apply_offline_defaults()

from collapse_guard.text import watermark as wm  # noqa: E402
from collapse_guard.text import winmax  # noqa: E402
from collapse_guard.text.corpus import default_corpus  # noqa: E402
from collapse_guard.text.detection_kernel import _GOLDEN, _mix  # noqa: E402
from collapse_guard.text.screening import WatermarkScreen  # noqa: E402
from tests.text import detection_oracle as oracle  # noqa: E402

GAMMA = 0.25
KEY = wm.as_key(b"collapse-guard detection benchmark key (not a secret)")


# -- the floors ---------------------------------------------------------------------------------------------------
@njit(cache=True)
def floor_every_pair(tokens, ends, seed, threshold):  # pragma: no cover
    """Green units per document, every (previous, token) pair counted: one pass, nothing kept."""
    green = np.zeros(len(ends), np.int64)
    begin = 0
    for d in range(len(ends)):
        end = ends[d]
        count = 0
        if end > begin:
            previous = _mix(tokens[begin] ^ seed)
            for t in range(begin + 1, end):
                count += _mix(previous * _GOLDEN + tokens[t]) < threshold
                previous = _mix(tokens[t] ^ seed)
        green[d] = count
        begin = end
    return green


@njit(cache=True)
def floor_distinct_pairs(tokens, ends, seed, threshold):  # pragma: no cover
    """The same, each distinct unit once per document: a linear-probing set cleared per document."""
    longest, begin = 1, 0
    for end in ends:
        longest = max(longest, end - begin)
        begin = end
    capacity = 8
    while capacity < 4 * longest:
        capacity *= 2
    slots = np.zeros(capacity, np.uint64)
    green = np.zeros(len(ends), np.int64)
    scored = np.zeros(len(ends), np.int64)
    begin = 0
    for d in range(len(ends)):
        end = ends[d]
        size = 8
        while size < 4 * (end - begin):
            size *= 2
        for j in range(size):
            slots[j] = 0
        mask = np.uint64(size - 1)
        g = n = 0
        if end > begin:
            previous = _mix(tokens[begin] ^ seed)
            for t in range(begin + 1, end):
                unit = _mix(previous * _GOLDEN + tokens[t]) | np.uint64(1)  # 0 marks an empty slot
                previous = _mix(tokens[t] ^ seed)
                slot = unit & mask
                while slots[slot] != 0 and slots[slot] != unit:
                    slot = (slot + np.uint64(1)) & mask
                if slots[slot] == 0:
                    slots[slot] = unit
                    n += 1
                    g += unit < threshold
        green[d], scored[d] = g, n
        begin = end
    return green, scored


# -- corpora --------------------------------------------------------------------------------------------------------
def cut_documents(words: list[str], tokens: int, rng: np.random.Generator) -> list[str]:
    """Documents of 20-200 words cut at random offsets from ``words`` until about ``tokens`` tokens."""
    texts, total = [], 0
    while total < tokens:
        length = int(rng.integers(20, 201))
        start = int(rng.integers(0, len(words) - length))
        texts.append(" ".join(words[start : start + length]))
        total += len(wm.text_token_ids(texts[-1]))
    return texts


def default_corpus_texts(tokens: int) -> list[str]:
    words = " ".join(default_corpus()["text"]).split()
    return cut_documents(words, tokens, np.random.default_rng(1))


def zipf_texts(tokens: int, vocabulary: int = 200_000, exponent: float = 1.1) -> list[str]:
    """Made-up words (2-12 letters) drawn with Zipf frequencies; a comma or full stop after one word in 12."""
    rng = np.random.default_rng(2)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lexicon = ["".join(rng.choice(letters, int(rng.integers(2, 13)))) for _ in range(vocabulary)]
    ranks = np.arange(1, vocabulary + 1, dtype=np.float64)
    p = ranks**-exponent
    drawn = rng.choice(vocabulary, size=int(tokens * 1.2), p=p / p.sum())
    marks = rng.random(len(drawn))
    words = [lexicon[w] + ("," if m < 0.05 else "." if m < 0.083 else "") for w, m in zip(drawn, marks, strict=True)]
    return cut_documents(words, tokens, rng)


# -- timing ---------------------------------------------------------------------------------------------------------
def timed(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the fastest of ``repeats`` runs (after one warm-up)."""
    run()
    cpu = wall = float("inf")
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        run()
        cpu, wall = min(cpu, time.process_time() - c), min(wall, time.perf_counter() - w)
    return cpu, wall


def numpy_screen(texts: list[str]) -> None:
    """The screen's work per key and scheme on the numpy path: tokenise to arrays, numpy detect, numpy scan."""
    ids = wm.texts_token_ids(texts)
    oracle.detect(ids, KEY, GAMMA)
    oracle.scan(ids, KEY, GAMMA)


def check_equal(texts: list[str], batch: wm.TokenBatch, documents: list[np.ndarray]) -> None:
    for scheme in ("lefthash-h1", "selfhash-h4"):
        for distinct in (True, False):
            compiled, numpy = (
                wm.detect(batch, KEY, GAMMA, distinct, scheme),
                oracle.detect(documents, KEY, GAMMA, distinct, scheme),
            )
            assert np.array_equal(compiled.green, numpy.green) and np.array_equal(compiled.scored, numpy.scored), scheme
            assert np.array_equal(compiled.p_value, numpy.p_value), scheme
        compiled_scan, numpy_scan = winmax.scan(batch, KEY, GAMMA, scheme), oracle.scan(documents, KEY, GAMMA, scheme)
        for field, expected in numpy_scan.items():
            assert np.array_equal(getattr(compiled_scan, field), expected), (scheme, field)
    green = floor_distinct_pairs(batch.ids, batch.ends, np.uint64(KEY.seed), wm._threshold(GAMMA))[0]
    assert np.array_equal(green, wm.detect(batch, KEY, GAMMA).green)  # the floor counts what detect counts


def measure(name: str, texts: list[str], repeats: int) -> dict[str, float]:
    batch = wm.TokenBatch.of_texts(texts)
    documents = wm.texts_token_ids(texts)
    tokens = len(batch.ids)
    check_equal(texts, batch, documents)
    seed, threshold = np.uint64(KEY.seed), wm._threshold(GAMMA)
    screen = WatermarkScreen({KEY.key_id: KEY}, GAMMA)
    stages: list[tuple[str, Callable[[], object]]] = [
        ("floor, every pair", lambda: floor_every_pair(batch.ids, batch.ends, seed, threshold)),
        ("floor, distinct pairs", lambda: floor_distinct_pairs(batch.ids, batch.ends, seed, threshold)),
        ("detect on ids", lambda: wm.detect(batch, KEY, GAMMA)),
        ("detect on ids, every pair", lambda: wm.detect(batch, KEY, GAMMA, False)),
        ("detect on ids, selfhash-h4", lambda: wm.detect(batch, KEY, GAMMA, scheme="selfhash-h4")),
        ("numpy detect on ids", lambda: oracle.detect(documents, KEY, GAMMA)),
        ("numpy detect on ids, every pair", lambda: oracle.detect(documents, KEY, GAMMA, False)),
        ("numpy detect on ids, selfhash-h4", lambda: oracle.detect(documents, KEY, GAMMA, scheme="selfhash-h4")),
        ("tokenise", lambda: wm.TokenBatch.of_texts(texts)),
        ("tokenise + detect", lambda: oracle.detect_texts(texts, KEY, GAMMA)),
        ("numpy tokenise + detect", lambda: oracle.detect(wm.texts_token_ids(texts), KEY, GAMMA)),
        ("whole screen", lambda: screen.scores(texts)),
        ("numpy whole screen", lambda: numpy_screen(texts)),
    ]
    distinct = len(np.unique(batch.ids))
    print(f"\n{name}: {len(texts):,} documents, {tokens:,} tokens ({distinct:,} distinct), load {_load()}")
    print(f"   {'stage':<32} {'CPU s':>8} {'wall s':>8} {'ns/token':>9} {'M tokens/CPU s':>15}")
    cpu = {}
    for stage, run in stages:
        cpu[stage], wall = timed(run, repeats)
        rate = tokens / cpu[stage] / 1e6
        print(f"   {stage:<32} {cpu[stage]:>8.3f} {wall:>8.3f} {cpu[stage] / tokens * 1e9:>9.1f} {rate:>15.1f}")
    ratios = [
        ("detect on ids / floor, distinct pairs", cpu["detect on ids"] / cpu["floor, distinct pairs"], 3.0),
        ("detect, every pair / floor, every pair", cpu["detect on ids, every pair"] / cpu["floor, every pair"], 3.0),
        ("tokenise + detect / detect on ids", cpu["tokenise + detect"] / cpu["detect on ids"], 1.5),
        ("whole screen / detect on ids", cpu["whole screen"] / cpu["detect on ids"], 3.0),
    ]
    print(f"   {'ratio (CPU s)':<42} {'now':>6} {'target':>7}   numpy path")
    numpy_ratios = {
        "detect on ids / floor, distinct pairs": cpu["numpy detect on ids"] / cpu["floor, distinct pairs"],
        "detect, every pair / floor, every pair": cpu["numpy detect on ids, every pair"] / cpu["floor, every pair"],
        "tokenise + detect / detect on ids": cpu["numpy tokenise + detect"] / cpu["numpy detect on ids"],
        "whole screen / detect on ids": cpu["numpy whole screen"] / cpu["numpy detect on ids"],
    }
    for label, ratio, target in ratios:
        verdict = "met" if ratio <= target else f"missed by {ratio / target:.1f}x"
        print(f"   {label:<42} {ratio:>6.2f} {target:>6.1f}x   {numpy_ratios[label]:>5.2f}   {verdict}")
    stage_cpu = tokenise_stages(texts, repeats)
    print("   tokenise, by stage (ns/token): " + ", ".join(f"{k} {v / tokens * 1e9:.1f}" for k, v in stage_cpu.items()))
    speedups = [("detect on ids", "numpy detect on ids"), ("tokenise + detect", "numpy tokenise + detect")]
    speedups += [("whole screen", "numpy whole screen")]
    gains = ", ".join(f"{fast} {cpu[slow] / cpu[fast]:.1f}x" for fast, slow in speedups)
    print(f"   speed-up over the numpy path: {gains}")
    return cpu


def tokenise_stages(texts: list[str], repeats: int) -> dict[str, float]:
    """CPU seconds of each stage of ``batch_token_ids`` (collapse_guard.text.tokenizer)."""
    from collapse_guard.text import token_scan
    from collapse_guard.text.tokenizer import distinct_token_ids

    joined = "".join(texts)
    table = token_scan.code_point_table()
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    everything = np.uint64((1 << 64) - 1)
    tokens, _, _, starts, sizes = token_scan.scan(codes, ends, table, everything)
    distinct = distinct_token_ids(joined, starts, sizes)
    runs = {
        "join + utf-32": lambda: np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32),
        "split and find distinct (compiled scan)": lambda: token_scan.scan(codes, ends, table, everything),
        "ids of distinct tokens (BLAKE2b, cached)": lambda: distinct_token_ids(joined, starts, sizes),
        "gather": lambda: distinct[tokens],
    }
    return {name: timed(run, repeats)[0] for name, run in runs.items()}


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load {_load()}"
    )
    print(f"gamma {GAMMA}, one key, lefthash-h1 unless named; CPU and wall seconds are the best of {args.repeats}")
    measure("default corpus (real English)", default_corpus_texts(args.tokens), args.repeats)
    measure("Zipf vocabulary", zipf_texts(args.tokens), args.repeats)


if __name__ == "__main__":
    main()
