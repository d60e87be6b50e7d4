"""Near-duplicate screening at crawl scale, in two parts.

1. Per core (``--engines``): collapse-guard's compiled MinHash LSH against datasketch's bulk path.
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
``collapse-guard-stream`` = the same documents through ``ScreeningStream`` 100,000 at a time with the earlier
documents spilled to a temporary folder (what ``screen-crawl`` does); ``datasketch`` = ``MinHash.bulk``
over the same 3-word shingles (as bytes) then ``MinHashLSH`` query-then-insert per document, as its docs
show (a query hit is a drop, unverified: datasketch's docs do not verify). All on one core.

2. The ``screen-crawl`` flow on Dask (``--workers 1 2``): a generated crawl file (benchmarks/synthetic_crawl.py:
near-copies within the crawl and of the anchor, exact copies, watermarked documents) screened against an
anchor of a tenth of its size (at most 1M documents) by collapse_guard.flows.crawl_screening on a local
cluster of 1 and 2 workers, in a fresh process per run. Reported: documents per second of the flow (the
anchor index is built first, from its file, and timed apart: a workspace loads it), the peak resident
memory of the process tree (the flow's process plus the Dask workers, sampled every 0.2 s and summed; the
temporary Prefect server apart) twice: as resident memory (RSS, which counts the pages of the shared libraries
every process maps, ~120 MB each, once per process) and as proportional set size (PSS: a shared page split
among the processes that map it, so the tree's sum is what it takes of the machine), recall per planted kind,
precision of the near-copy drops on a sample, the watermarked documents turned away, and the growth exponent.

    python benchmarks/scale_screening.py [--sizes 100000 1000000] [--engines collapse-guard datasketch]
    python benchmarks/scale_screening.py --workers 1 2 --sizes 100000 1000000 10000000 [--data DIR]
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
import tempfile
import threading
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
            with tempfile.TemporaryDirectory() as spill:
                stream = ScreeningStream(None, settings, spill_dir=Path(spill))
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


# -- 2. the screen-crawl flow on Dask -----------------------------------------------------------------------------
CRAWL_BATCH = 50_000  # per Dask task: a worker's working memory is ~3 KB per document of its batch
ANCHOR_SHARE, ANCHOR_CAP = 10, 1_000_000


class TreeMemory(threading.Thread):
    """Peak resident memory of this process and its descendants (Dask nanny and workers), summed, sampled
    every ``period`` seconds; the temporary Prefect API server is a descendant too, measured apart."""

    def __init__(self, period: float = 0.2) -> None:
        super().__init__(daemon=True)
        import psutil

        self.me, self.period, self.stop = psutil.Process(), period, threading.Event()
        self.peak_tree = self.peak_main = self.peak_server = self.peak_pss = 0.0
        self.cpu: dict[int, float] = {}  # CPU seconds (user + system) last seen per process, server apart

    def cpu_seconds(self) -> float:
        """CPU time of the screening's processes: on a shared machine, less sensitive to load than seconds."""
        return sum(self.cpu.values())

    def run(self) -> None:
        import psutil

        sample = 0
        while not self.stop.is_set():
            tree = server = 0.0
            main = self.me.memory_info().rss / 2**20
            with_pss = sample % PSS_EVERY == 0
            pss = _pss_mb(self.me) if with_pss else 0.0
            times = self.me.cpu_times()
            self.cpu[self.me.pid] = times.user + times.system
            for child in self.me.children(recursive=True):
                try:
                    rss, command = child.memory_info().rss / 2**20, " ".join(child.cmdline())
                    times = child.cpu_times()
                    if "prefect" in command and ("server" in command or "uvicorn" in command):
                        server += rss
                        continue
                    child_pss = _pss_mb(child) if with_pss else 0.0
                except psutil.Error:
                    continue
                tree += rss
                pss += child_pss
                self.cpu[child.pid] = times.user + times.system
            self.peak_tree = max(self.peak_tree, main + tree)
            self.peak_pss = max(self.peak_pss, pss)
            sample += 1
            self.peak_main, self.peak_server = max(self.peak_main, main), max(self.peak_server, server)
            time.sleep(self.period)


PSS_EVERY = 10  # PSS (smaps_rollup, ~0.7 ms a process): every 2 s, for peaks that build over minutes


def _pss_mb(process) -> float:
    """Proportional set size (Linux smaps_rollup): private pages plus a share of each shared page."""
    return process.memory_full_info().pss / 2**20


def _anchor_size(n: int) -> int:
    return min(ANCHOR_CAP, n // ANCHOR_SHARE)


def run_crawl(n: int, workers: int, data: Path, batch: int = CRAWL_BATCH) -> dict:
    """Screen the generated crawl of ``n`` documents with the flow on ``workers`` Dask workers."""
    from prefect.testing.utilities import prefect_test_harness
    from synthetic_crawl import GAMMA, make_key

    from collapse_guard.flows.crawl_screening import on_dask, output_paths
    from collapse_guard.records.runtime import return_freed_memory
    from collapse_guard.text.corpus import TEXT, iter_corpus
    from collapse_guard.text.dedup import AnchorIndex, DocumentHashes
    from collapse_guard.text.screening import WatermarkScreen

    return_freed_memory()  # as `collapse-guard ingest` does before it loads the anchor's index
    settings = DedupSettings()
    key, schemes = make_key(data)
    screen = WatermarkScreen({key.key_id: key}, GAMMA, schemes={key.key_id: schemes})
    out = data / f"out-{workers}"
    memory = TreeMemory()
    memory.start()
    with tempfile.TemporaryDirectory(dir=data) as spill, prefect_test_harness(server_startup_timeout=120):
        start = time.perf_counter()
        anchor = AnchorIndex([], settings, spill_dir=Path(spill))
        for part in iter_corpus(data / "anchor.jsonl", batch):
            anchor.add(DocumentHashes.of(part[TEXT].tolist(), settings))
        anchor_seconds = time.perf_counter() - start
        gc.collect()
        time.sleep(2 * memory.period)
        # from here on: the screening's own peak and CPU time
        memory.peak_tree = memory.peak_main = memory.peak_pss = 0.0
        cpu_before = memory.cpu_seconds()
        start = time.perf_counter()
        summary = on_dask(workers)(data / "crawl.jsonl", anchor, batch, out, screen)
        seconds = time.perf_counter() - start
        time.sleep(2 * memory.period)
        memory.stop.set()
    return {
        "documents": n,
        "workers": workers,
        "anchor_documents": len(anchor),
        "anchor_seconds": anchor_seconds,
        "seconds": seconds,
        "docs_per_s": n / seconds,
        "cpu_seconds": memory.cpu_seconds() - cpu_before,  # workers' CPU counted until their last sample
        "batch": batch,
        "peak_tree_mb": memory.peak_tree,
        "peak_pss_mb": memory.peak_pss,
        "peak_main_mb": memory.peak_main,
        "server_mb": memory.peak_server,
        "verdicts": str(output_paths(data / "crawl.jsonl", out)[0]),
        "summary": summary,
    }


def _lines(path: Path, rows: set[int]) -> dict[int, str]:
    """The texts of the given 0-based rows of a JSONL file, in one pass."""
    found = {}
    with open(path) as handle:
        for row, line in enumerate(handle):
            if row in rows:
                found[row] = json.loads(line)["text"]
    return found


def evaluate_crawl(result: dict, data: Path) -> dict:
    """Recall per planted kind, watermarked documents turned away, false drops among originals, precision of
    the near-copy drops against the true shingle Jaccard on a sample."""
    settings = DedupSettings()
    t = settings.threshold
    verdicts = pd.read_parquet(result["verdicts"], columns=["line", "reason", "matched_in", "duplicate_of"])
    truth = np.load(data / "truth.npz")
    kind, source, jaccard = truth["kind"], truth["source"], truth["jaccard"]
    reason = np.full(len(kind), "", dtype=object)
    reason[verdicts["line"].to_numpy() - 1] = verdicts["reason"].to_numpy()
    away = reason != ""
    from synthetic_crawl import KINDS

    def share(mask: np.ndarray, hit: np.ndarray) -> float:
        return float(hit[mask].mean()) if mask.any() else float("nan")

    near_crawl, near_anchor = kind == KINDS.index("near_crawl"), kind == KINDS.index("near_anchor")
    marked = kind == KINDS.index("watermarked")
    copies = np.flatnonzero((kind == KINDS.index("near_crawl")) | (kind == KINDS.index("exact_crawl")))
    carries = marked.copy()  # a copy of a watermarked document carries its watermark (one word changed at most)
    for row in copies:  # sources come first
        carries[row] = carries[source[row]]
    figures = {
        "recall_crawl": share(near_crawl & (jaccard >= t), away),
        "recall_crawl_clear": share(near_crawl & (jaccard >= t + 0.1), away),
        # copies of an original: a copy of a copy the screening dropped may rightly stay (its nearest kept
        # document is then the original, which it may not nearly copy)
        "recall_crawl_of_original": share(near_crawl & (jaccard >= t) & (kind[np.maximum(source, 0)] == 0), away),
        "recall_anchor": share(near_anchor & (jaccard >= t), away),
        "recall_exact": share(kind == KINDS.index("exact_crawl"), away),
        "watermarked_planted": int(marked.sum()),
        "watermarked_away": int((marked & (reason == "watermarked")).sum()),
        "watermark_copies_away": int((carries & ~marked & (reason == "watermarked")).sum()),
        "watermark_false": int((~carries & (reason == "watermarked")).sum()),
        "originals_away": int(((kind == 0) & away).sum()),
    }
    near = verdicts[verdicts["reason"].str.startswith("near_duplicate")]
    sample = near.sample(n=min(PRECISION_SAMPLE, len(near)), random_state=0)
    crawl_rows = set((sample["line"] - 1).tolist()) | set(sample["duplicate_of"][sample["matched_in"] == "batch"])
    anchor_rows = set(sample["duplicate_of"][sample["matched_in"] == "anchor"].tolist())
    crawl_texts, anchor_texts = _lines(data / "crawl.jsonl", crawl_rows), _lines(data / "anchor.jsonl", anchor_rows)
    similar = [
        true_jaccard(
            crawl_texts[line - 1], (crawl_texts if where == "batch" else anchor_texts)[partner], settings.shingle_size
        )
        for line, where, partner in zip(sample["line"], sample["matched_in"], sample["duplicate_of"], strict=True)
    ]
    similar = np.array(similar)
    figures["precision"] = float((similar >= t).mean()) if len(similar) else 1.0
    figures["precision_loose"] = float((similar >= t - 0.1).mean()) if len(similar) else 1.0
    return figures


def crawl_benchmark(sizes: list[int], workers: list[int], data: Path, batch: int = CRAWL_BATCH) -> None:
    from synthetic_crawl import generate

    settings = DedupSettings()
    print(
        f"screen-crawl flow on a local Dask cluster: {settings.shingle_size}-word shingles, {settings.num_perm} "
        f"permutations, Jaccard {settings.threshold}, batches of {batch:,}; anchor = crawl / {ANCHOR_SHARE} "
        f"(at most {ANCHOR_CAP:,}); {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start\n"
    )
    print(
        f"{'workers':>7} {'documents':>10} {'anchor':>9} {'anchor s':>8} {'seconds':>8} {'doc/s':>7} {'CPU s':>7} "
        f"{'tree MB':>8} {'PSS MB':>7} {'main MB':>8} {'near J>=t':>9} {'J>=t+.1':>8} {'of orig':>7} {'anchor':>7} "
        f"{'exact':>6} {'precision':>9} {'wm away':>11} {'false':>6} {'load':>5}"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    times: dict[int, list[tuple[int, float]]] = {w: [] for w in workers}
    cpu: dict[int, list[tuple[int, float]]] = {w: [] for w in workers}
    for n in sizes:
        folder = data / f"crawl-{n}"
        generate(folder, n, _anchor_size(n))
        for w in workers:
            load = os.getloadavg()[0]
            command = [sys.executable, __file__, "--crawl-one", str(n), str(w), str(folder), str(batch)]
            out = subprocess.run(command, capture_output=True, text=True, env=env)
            if out.returncode:
                print(f"{w:>7} {n:>10,} failed: {out.stderr.strip().splitlines()[-3:]}", flush=True)
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row.update(evaluate_crawl(row, folder))
            times[w].append((n, row["seconds"]))
            cpu[w].append((n, row["cpu_seconds"]))
            print(
                f"{w:>7} {n:>10,} {row['anchor_documents']:>9,} {row['anchor_seconds']:>8.1f} {row['seconds']:>8.1f} "
                f"{row['docs_per_s']:>7,.0f} {row['cpu_seconds']:>7,.0f} {row['peak_tree_mb']:>8,.0f} "
                f"{row['peak_pss_mb']:>7,.0f} {row['peak_main_mb']:>8,.0f} "
                f"{row['recall_crawl']:>9.1%} {row['recall_crawl_clear']:>8.1%} "
                f"{row['recall_crawl_of_original']:>7.1%} {row['recall_anchor']:>7.1%} "
                f"{row['recall_exact']:>6.1%} {row['precision']:>9.1%} "
                f"{row['watermarked_away']:>5,}/{row['watermarked_planted']:<5,} {row['watermark_false']:>6,} "
                f"{load:>5.1f}",
                flush=True,
            )
            print(
                f"{'':>7} turned away {json.dumps(row['summary']['turned_away'])}; copies of watermarked documents "
                f"turned away as watermarked {row['watermark_copies_away']:,}; "
                f"Prefect server {row['server_mb']:,.0f} MB",
                flush=True,
            )
    for w, points in times.items():
        if len(points) > 1:
            (n0, t0), (n1, t1) = points[0], points[-1]
            (_, c0), (_, c1) = cpu[w][0], cpu[w][-1]
            wall, spent = math.log(t1 / t0) / math.log(n1 / n0), math.log(c1 / c0) / math.log(n1 / n0)
            print(
                f"{w} worker(s): growth exponent b (time ∝ n^b) {n0:,} -> {n1:,}: {wall:.2f} in seconds, "
                f"{spent:.2f} in CPU seconds"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--workers", type=int, nargs="+", help="run the screen-crawl flow on this many Dask workers")
    parser.add_argument("--data", type=Path, default=None, help="where generated crawls are kept (default: a temp dir)")
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=CRAWL_BATCH, help="documents per screened batch (flow)")
    parser.add_argument("--crawl-one", nargs=4, metavar=("N", "WORKERS", "DATA", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return
    if args.crawl_one:
        n, workers, data, batch = args.crawl_one
        print(json.dumps(run_crawl(int(n), int(workers), Path(data), int(batch))))
        return
    if args.workers:
        if args.data is not None:
            crawl_benchmark(args.sizes, args.workers, args.data, args.batch)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-crawl-") as data:
                crawl_benchmark(args.sizes, args.workers, Path(data), args.batch)
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
