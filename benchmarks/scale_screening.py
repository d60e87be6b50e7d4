"""Near-duplicate screening at crawl scale: collapse-guard's numpy MinHash LSH against datasketch's bulk path.

Short generated documents (10-40 words from a Zipf vocabulary of 20,000 words), 5 % planted near-copies of
an earlier document (one word replaced; benchmarks/text_dedup.py). For each size and each engine, one fresh
process (so the peak resident memory, ``ru_maxrss``, is that run's own) screens the whole batch for
near-duplicates within it, and reports:

- documents per second (hashing + LSH + verification, tokenising included), peak memory, and the
  screening's own share of it (``screen MB``: the peak less the memory held once the documents exist);
- recall: the share of planted copies whose true shingle Jaccard J reaches the threshold t that were
  dropped (and of those with J >= t + 0.1);
- precision: of a sample of up to 2,000 documents dropped as near-copies, the share whose true Jaccard to
  the document they were matched with reaches t (and t - 0.1: MinHash near t is a coin flip);
- the growth exponent b of time ∝ n^b between the smallest and largest size.

Engines: ``collapse-guard`` = collapse_guard.text.dedup.find_duplicates on the whole batch;
``collapse-guard-stream`` = the same documents through ``ScreeningStream`` 100,000 at a time (what
``ingest`` does: the same drops, the hashing's working memory bounded by the batch); ``datasketch`` = ``MinHash.bulk``
over the same 3-word shingles (as bytes) then ``MinHashLSH`` query-then-insert per document, as its docs
show (a query hit is a drop, unverified: datasketch's docs do not verify). Both on one core.

    python benchmarks/scale_screening.py [--sizes 100000 1000000] [--engines collapse-guard datasketch]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from text_dedup import synthetic_documents, true_jaccard  # noqa: E402

from collapse_guard.text.dedup import DedupSettings, ScreeningStream, find_duplicates  # noqa: E402

ENGINES = ("collapse-guard", "collapse-guard-stream", "datasketch")
STREAM_BATCH = 100_000
PRECISION_SAMPLE = 2_000


def _datasketch_screen(texts: list[str], settings: DedupSettings) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash, MinHashLSH

    from collapse_guard.text.tokenizer import words

    def shingles(text: str) -> list[bytes]:
        tokens = words(text)
        if len(tokens) < settings.shingle_size:
            return [" ".join(tokens).encode()] if tokens else []
        size = settings.shingle_size
        return [" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)]

    signatures = MinHash.bulk([shingles(t) for t in texts], num_perm=settings.num_perm)
    lsh = MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm)
    drop, partner = np.zeros(len(texts), dtype=bool), np.full(len(texts), -1)
    for row, signature in enumerate(signatures):
        hits = lsh.query(signature)
        if hits:
            drop[row], partner[row] = True, min(hits)
        else:
            lsh.insert(row, signature, check_duplication=False)
    return drop, partner


def _resident_mb() -> float:
    """Current resident memory (Linux /proc), not the peak."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(engine: str, n: int) -> dict:
    """Screen ``n`` generated documents with ``engine`` in this process; the figures as a dict."""
    settings = DedupSettings()
    texts, copy_of = synthetic_documents(n, seed=n)
    find_duplicates(["warm up the imports"], None, settings)
    gc.collect()
    before_mb = _resident_mb()  # the documents themselves; the screening's own memory is peak - this
    start = time.perf_counter()
    if engine.startswith("collapse-guard"):
        if engine == "collapse-guard":
            report = find_duplicates(texts, None, settings)
        else:
            stream = ScreeningStream(None, settings)
            parts = [stream.screen(texts[i : i + STREAM_BATCH]) for i in range(0, n, STREAM_BATCH)]
            report = pd.concat(parts, ignore_index=True)
        drop = report["reason"].to_numpy() == "near_duplicate_in_batch"
        partner = report["duplicate_of"].to_numpy()
    else:
        drop, partner = _datasketch_screen(texts, settings)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    planted = np.flatnonzero(copy_of >= 0)
    similarity = np.array([true_jaccard(texts[r], texts[copy_of[r]], settings.shingle_size) for r in planted])
    t = settings.threshold
    rng = np.random.default_rng(0)
    dropped = np.flatnonzero(drop)
    sample = rng.choice(dropped, size=min(PRECISION_SAMPLE, len(dropped)), replace=False)
    matched = np.array([true_jaccard(texts[r], texts[partner[r]], settings.shingle_size) for r in sample])
    return {
        "engine": engine,
        "documents": n,
        "seconds": seconds,
        "docs_per_s": n / seconds,
        "peak_mb": peak_mb,
        "before_mb": before_mb,
        "recall": float(drop[planted][similarity >= t].mean()),
        "recall_clear": float(drop[planted][similarity >= t + 0.1].mean()),
        "precision": float((matched >= t).mean()) if len(matched) else 1.0,
        "precision_loose": float((matched >= t - 0.1).mean()) if len(matched) else 1.0,
        "dropped": int(len(dropped)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return
    settings = DedupSettings()
    print(
        f"near-duplicate screening within one batch: {settings.shingle_size}-word shingles, {settings.num_perm} "
        f"permutations, Jaccard {settings.threshold}; 10-40 word documents, 5 % planted near-copies; one core\n"
    )
    print(
        f"{'engine':>21} {'documents':>10} {'seconds':>8} {'doc/s':>8} {'peak MB':>8} {'screen MB':>9} "
        f"{'recall J>=t':>11} {'J>=t+.1':>8} {'precision J>=t':>14} {'J>=t-.1':>8}"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for engine in args.engines:
        times = []
        for n in args.sizes:
            out = subprocess.run(
                [sys.executable, __file__, "--one", engine, str(n)], capture_output=True, text=True, env=env
            )
            if out.returncode:
                print(f"{engine:>21} {n:>10,} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            times.append((n, row["seconds"]))
            print(
                f"{engine:>21} {n:>10,} {row['seconds']:>8.1f} {row['docs_per_s']:>8,.0f} {row['peak_mb']:>8,.0f} "
                f"{row['peak_mb'] - row['before_mb']:>9,.0f} "
                f"{row['recall']:>11.1%} {row['recall_clear']:>8.1%} {row['precision']:>14.1%} "
                f"{row['precision_loose']:>8.1%}",
                flush=True,
            )
        if len(times) > 1:
            (n0, t0), (n1, t1) = times[0], times[-1]
            exponent = math.log(t1 / t0) / math.log(n1 / n0)
            print(f"{engine:>21} growth exponent b (time ∝ n^b) {n0:,} -> {n1:,}: {exponent:.2f}")


if __name__ == "__main__":
    main()
