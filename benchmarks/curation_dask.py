"""Curating a generation's synthetic text in one process against on a local Dask cluster.

The synthetic batch is a generated crawl (benchmarks/synthetic_crawl.py: 10-40 word documents with planted
near-copies, exact copies, near-copies of the anchor and 0.5 % watermarked documents) curated with
collapse_guard.text.screening.curate_text against an anchor of a tenth of its size, with the watermark
screen a watermarking model's curation uses (one key, one scheme): every document is hashed and scored.
Each mode runs in a fresh process, inside a Prefect flow and task as in the guarded flow:

- ``in-process``: the hashing in the task's process (``dask_min_documents`` above the batch);
- ``dask-N``: collapse_guard.tasks.text_screening.DaskHashing with a threshold of 0 on a local cluster of N
  single-threaded workers, started (and stopped) inside the timed call, as curation does.

Reported: seconds of the curation call (cluster start included), CPU seconds of the process tree (the
flow's process, the Dask nanny and workers; the temporary Prefect server apart), peak summed resident
memory, and the curation counts, which must be the same in every mode. The anchor index is built first
and timed apart (a workspace loads it).

    python benchmarks/curation_dask.py --documents 200000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
ANCHOR_SHARE = 10


def run_one(mode: str, data: Path) -> dict:
    """Curate ``data``'s crawl as one generation's synthetic batch, in ``mode``; figures as a dict."""
    import pandas as pd
    from prefect import flow, task
    from prefect.testing.utilities import prefect_test_harness
    from scale_screening import TreeMemory
    from synthetic_crawl import GAMMA, make_key

    from collapse_guard.tasks.text_screening import DaskHashing
    from collapse_guard.text.corpus import read_corpus
    from collapse_guard.text.dedup import AnchorIndex, DedupSettings
    from collapse_guard.text.labels import DECODING, WATERMARK_KEY_ID
    from collapse_guard.text.screening import WatermarkScreen, curate_text

    key, schemes = make_key(data)
    screen = WatermarkScreen({key.key_id: key}, GAMMA, schemes={key.key_id: schemes})
    raw = pd.DataFrame({"text": read_corpus(data / "crawl.jsonl")["text"]})
    start = time.perf_counter()
    anchor = AnchorIndex(read_corpus(data / "anchor.jsonl")["text"].tolist(), DedupSettings())
    anchor_seconds = time.perf_counter() - start
    labels = {WATERMARK_KEY_ID: key.key_id, DECODING: "{}"}
    hasher = None if mode == "in-process" else DaskHashing(int(mode.split("-")[1]), 0, 100_000)

    @task
    def curate() -> tuple:
        kept, report = curate_text(
            raw, anchor, labels, screen, generation=1, model_id="bench", run_id="bench", hasher=hasher
        )
        return len(kept), report.to_dict()

    @flow
    def generation() -> tuple:
        return curate()

    memory = TreeMemory()
    memory.start()
    with prefect_test_harness(server_startup_timeout=120):
        time.sleep(2 * memory.period)
        cpu_before = memory.cpu_seconds()
        load = os.getloadavg()[0]
        start = time.perf_counter()
        kept, counts = generation()
        seconds = time.perf_counter() - start
        time.sleep(2 * memory.period)
        memory.stop.set()
    return {
        "mode": mode,
        "documents": len(raw),
        "anchor": len(anchor),
        "anchor_seconds": anchor_seconds,
        "seconds": seconds,
        "cpu_seconds": memory.cpu_seconds() - cpu_before,
        "peak_tree_mb": memory.peak_tree,
        "load": load,
        "counts": counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--data", type=Path, default=None, help="where the generated batch is kept (default: temp)")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], Path(args.one[1]))))
        return
    from synthetic_crawl import generate

    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or Path(scratch)
        generate(data, args.documents, args.documents // ANCHOR_SHARE)
        print(f"curation of {args.documents:,} synthetic documents against {args.documents // ANCHOR_SHARE:,} anchor")
        print(f"documents; {os.cpu_count()} cores; each mode in a fresh process\n")
        print(f"{'mode':<12} {'seconds':>8} {'CPU s':>7} {'tree MB':>8}  {'kept':>7}  load  counts equal")
        first = None
        for mode in ["in-process", *(f"dask-{w}" for w in args.workers)]:
            out = subprocess.run(
                [sys.executable, __file__, "--one", mode, str(data)], capture_output=True, text=True, check=True
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            first = first or row["counts"]
            print(
                f"{mode:<12} {row['seconds']:>8.1f} {row['cpu_seconds']:>7.1f} {row['peak_tree_mb']:>8,.0f}  "
                f"{row['counts']['kept']:>7,}  {row['load']:>4.1f}  {row['counts'] == first}",
                flush=True,
            )
        print(f"\ncounts: {first}")


if __name__ == "__main__":
    main()
