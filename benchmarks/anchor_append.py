"""`ingest` of a few rows onto a big anchor: seconds and bytes written (issue 13, "an append-only anchor that
appends").

A throwaway signed workspace is initialised with an embedded anchor of ``--rows`` rows (``init``: DVC, keys,
ledger), then ``--new`` fresh rows of the same default data are ingested ``--repeats`` times through
``collapse_guard.pipeline.ingest.ingest_real`` in this process, as the CLI runs it: trust checks, the door (GX),
append, DVC add + push to the local remote, ledger, signature. Each ingest is timed and its writes counted:
the bytes this process handed to write() (``wchar`` of /proc/self/io; DVC's add and push run in-process) and
the growth on disk of the anchor, the DVC cache and the local DVC remote. The read of the anchor alone
(``anchor.load``) is timed too, as the floor no layout removes.

It only calls functions main had before anchor datasets, so main is measured with the same script:

    python benchmarks/anchor_append.py [--rows 1000000] [--new 1000] [--repeats 2]
    PYTHONPATH=<a checkout of main> python benchmarks/anchor_append.py   # before
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # after PYTHONPATH: a checkout of main named there wins
from collapse_guard.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()


def written_bytes() -> int:
    """Bytes this process has passed to write() so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def size_on_disk(*folders: Path) -> int:
    return sum(p.stat().st_size for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the anchor")
    parser.add_argument("--new", type=int, default=1_000, help="rows each ingest appends")
    parser.add_argument("--repeats", type=int, default=2, help="ingests, one after the other")
    args = parser.parse_args()

    import collapse_guard
    from collapse_guard.modality.registry import load_params
    from collapse_guard.pipeline.ingest import ingest_real
    from collapse_guard.pipeline.setup import initialise
    from collapse_guard.records import anchor
    from collapse_guard.tabular.default_data import sample_default

    print(f"collapse_guard from {Path(collapse_guard.__file__).resolve().parent.parent.name}/")
    root = Path(tempfile.mkdtemp(prefix="cg-anchor-append-"))
    try:
        params_file = root / "params.yaml"
        raw = yaml.safe_load((REPO / "params.yaml").read_text())
        raw["paths"]["expectations_dir"] = str(REPO / "expectations")
        raw["tabular"]["embedded"]["rows"] = args.rows
        params_file.write_text(yaml.safe_dump(raw))
        params = load_params(params_file)
        start = time.perf_counter()
        initialise(params)
        print(f"init with a {args.rows:,}-row anchor: {time.perf_counter() - start:.1f} s")
        folders = (params.anchor_path.parent, root / ".dvc" / "cache", params.resolve(params.tracking.dvc_remote))
        start = time.perf_counter()
        anchor.load(params.anchor_path)
        print(f"read the anchor (anchor.load): {time.perf_counter() - start:.2f} s")
        print(f"\n{'ingest':<8}{'rows after':>12}{'seconds':>10}{'write() MB':>12}{'disk growth MB':>16}")
        for repeat in range(args.repeats):
            new = root / f"new-{repeat}.csv"
            sample_default(args.new, 0.025, np.random.default_rng(1000 + repeat)).to_csv(new, index=False)
            wrote, disk = written_bytes(), size_on_disk(*folders)
            start = time.perf_counter()
            result = ingest_real(params, new)
            seconds = time.perf_counter() - start
            wrote, disk = written_bytes() - wrote, size_on_disk(*folders) - disk
            print(f"{repeat + 1:<8}{result['rows']:>12,}{seconds:>10.2f}{wrote / 1e6:>12.1f}{disk / 1e6:>16.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
