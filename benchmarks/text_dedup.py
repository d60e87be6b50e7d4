"""Near-duplicate detection (MinHash LSH, collapse_guard.text.dedup): documents per second and how it grows.

Short synthetic documents (10-40 words drawn from a Zipf vocabulary of 20,000 words, like tweets or titles),
5 % of them planted near-copies of an earlier document (one word replaced). For each size (10k and 100k by
default) prints, best of ``--repeats`` runs:

- ``find_duplicates`` within the batch: CPU seconds, documents per CPU second (the machine is shared: CPU time
  varies less with the load than wall time; every step runs on one thread); recall of the planted near-copies whose true
  shingle Jaccard similarity J reaches the threshold t, and reaches t + 0.1 (one replaced word in a 10-word
  document leaves only J ≈ 0.45, rightly not a near-duplicate at 0.7; near t, MinHash's estimate is a coin
  flip), and how many documents were dropped that were not planted;
- against an anchor of the same size: building the ``AnchorIndex`` and checking the batch against it;

then the growth exponent b of CPU time ∝ nᵇ between the two sizes (b ≈ 1: linear), and the load average.

    OMP_NUM_THREADS=1 python benchmarks/text_dedup.py [--quick] [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collapse_guard.text.dedup import AnchorIndex, DedupSettings, find_duplicates

VOCABULARY = 20_000
PLANTED_SHARE = 0.05


def synthetic_documents(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` documents and, for each, the row it nearly copies (-1 for originals)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(VOCABULARY)])
    zipf = 1.0 / np.arange(1, VOCABULARY + 1)
    zipf /= zipf.sum()
    lengths = rng.integers(10, 41, size=n)
    tokens = rng.choice(VOCABULARY, size=int(lengths.sum()), p=zipf)
    documents = [list(chunk) for chunk in np.split(tokens, np.cumsum(lengths)[:-1])]
    copy_of = np.full(n, -1)
    planted = rng.choice(np.arange(n // 2, n), size=int(PLANTED_SHARE * n), replace=False)
    for row in planted:
        source = int(rng.integers(0, n // 2))
        copy = list(documents[source])
        copy[int(rng.integers(len(copy)))] = int(rng.integers(VOCABULARY))
        documents[row], copy_of[row] = copy, source
    return [" ".join(words[d]) for d in documents], copy_of


def true_jaccard(a: str, b: str, size: int) -> float:
    def shingles(text: str) -> set[tuple[str, ...]]:
        tokens = text.split()
        return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}

    first, second = shingles(a), shingles(b)
    return len(first & second) / len(first | second)


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def growth(times: list[float], sizes: list[int]) -> float:
    return math.log(times[-1] / times[0]) / math.log(sizes[-1] / sizes[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes 2,000 and 20,000, one run each")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats = [2_000, 20_000], 1
    settings = DedupSettings()
    find_duplicates(["warm up the imports"], None, settings)
    print(
        f"MinHash LSH: {settings.shingle_size}-word shingles, {settings.num_perm} permutations, "
        f"Jaccard threshold {settings.threshold}; documents of 10-40 words, {PLANTED_SHARE:.0%} planted near-copies; "
        f"CPU seconds; load average {os.getloadavg()[0]:.1f} at start\n"
    )
    header = (
        f"{'documents':>10} {'within batch':>26} {'recall J>=t':>12} {'J>=t+0.1':>9} {'false drops':>12} "
        f"{'anchor index build':>26} {'batch vs anchor':>26} {'load':>5}"
    )
    print(header)
    within, build, against = [], [], []
    for n in args.sizes:
        texts, copy_of = synthetic_documents(n, seed=n)
        seconds, report = best_of(lambda texts=texts: find_duplicates(texts, None, settings), args.repeats)
        planted = np.flatnonzero(copy_of >= 0)
        similarity = np.array([true_jaccard(texts[row], texts[copy_of[row]], settings.shingle_size) for row in planted])
        found = report["drop"].to_numpy()[planted]
        recall = found[similarity >= settings.threshold].mean()
        clear_recall = found[similarity >= settings.threshold + 0.1].mean()
        false_drops = int(report["drop"].to_numpy()[copy_of < 0].sum())
        anchor_texts, _ = synthetic_documents(n, seed=n + 1)
        build_seconds, anchor = best_of(lambda a=anchor_texts: AnchorIndex(a, settings), args.repeats)
        against_seconds, _ = best_of(lambda t=texts, a=anchor: find_duplicates(t, a), args.repeats)
        within.append(seconds)
        build.append(build_seconds)
        against.append(against_seconds)
        print(
            f"{n:>10,} {seconds:>7.2f} s {n / seconds:>8,.0f} doc/CPU-s "
            f"{recall:>12.1%} {clear_recall:>9.1%} {false_drops:>12} "
            f"{build_seconds:>7.2f} s {n / build_seconds:>8,.0f} doc/CPU-s "
            f"{against_seconds:>7.2f} s {n / against_seconds:>8,.0f} doc/CPU-s {os.getloadavg()[0]:>5.1f}"
        )
    if len(args.sizes) > 1:
        print(
            f"\ngrowth exponent b (CPU time ∝ n^b) from {args.sizes[0]:,} to {args.sizes[-1]:,}: within batch "
            f"{growth(within, args.sizes):.2f}, anchor build {growth(build, args.sizes):.2f}, "
            f"batch vs anchor {growth(against, args.sizes):.2f}"
        )


if __name__ == "__main__":
    main()
