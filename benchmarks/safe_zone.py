"""The safe-zone search against the full sweep, on data nobody here wrote: r*, its interval and the compute.

Three data sets, each with the workspace's own model class and the product's fixed-ratio chains
(collapse_guard.pipeline.safe_zone.run_chain: curation, selection, the model, the metrics, one seed schedule):

- ``default``: the embedded 2-D table with rare modes and the Gaussian mixture model;
- ``fair``: Fair's 1978 survey as statsmodels ships it (numbers, whole-number ratings and a text column), same model;
- ``text``: the Python reference manual's prose (the text modality's embedded corpus) and the GRU language model.

For each, the search runs first; the full sweep then runs every fraction × seed, reusing the chains the search
already ran (the same seeds at the same fractions give the same chains), so the comparison costs one sweep.
Prints per data set: the search's r*, interval, model fits and CPU seconds, the sweep's r*, fits and CPU seconds,
and the share of the sweep's compute the search used; draws docs/figures/safe_zone_<name>.png (the sweep's chains,
the search's r* and interval). Sizes are moderate so that the three fit in tens of minutes of 2 busy cores;
``--full-size`` runs the shipped params.yaml sizes instead.

Run from the repository root: `OMP_NUM_THREADS=1 python benchmarks/safe_zone.py [--data default fair text]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collapse_guard.config import load_params  # noqa: E402
from collapse_guard.modality.registry import modality_for  # noqa: E402
from collapse_guard.pipeline import safe_zone  # noqa: E402
from collapse_guard.records.anchor import AnchorSplit, as_real_records, describe, split  # noqa: E402
from collapse_guard.reports import figures  # noqa: E402
from tests.conftest import TINY_TEXT, write_params  # noqa: E402
from tests.public_tables import fair_survey  # noqa: E402

TABLE_SIZES = {
    "tabular": {"embedded": {"rows": 1500}},
    "model": {"options": {"components": 8, "epochs": 100}},
    "generation": {"synthetic_per_generation": 300},
    "evaluation": {"sample_size": 1500},
}
SAFE_ZONE = {"generations": 5, "seeds": 4, "tolerance": 0.1}
TEXT_SAFE_ZONE = {"generations": 3, "seeds": 3, "tolerance": 0.25}  # the tiny model moves ±25 % between seeds at r = 1


def setting(name: str, folder: Path, full_size: bool):
    """(params, anchor split) of a data set, in a scratch workspace ``folder``."""
    if name == "text":
        tiny = {} if full_size else TINY_TEXT
        write_params(folder, base="examples/text/params.yaml", tiny=tiny, experiment={"safe_zone": TEXT_SAFE_ZONE})
    else:
        data = {}
        if name == "fair":
            fair_survey(1500, seed=0).to_parquet(folder / "fair.parquet", index=False)
            data = {"source": "fair.parquet"}
        write_params(folder, tiny={} if full_size else TABLE_SIZES, data=data, experiment={"safe_zone": SAFE_ZONE})
    params = safe_zone.search_params(load_params(folder / "params.yaml"))
    modality = modality_for(params)
    modality.prepare_workspace()  # text: a watermark key for the synthetic documents
    frame = modality.initial_anchor()
    if name == "fair":
        frame = as_real_records(frame, origin="statsmodels-fair")
    train, held_out = split(frame, params.data.holdout_fraction)
    return params, modality, AnchorSplit(frame, train, held_out, describe(frame))


def compare(name: str, full_size: bool) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        params, modality, anchor = setting(name, Path(scratch), full_size)
        settings = params.experiment.safe_zone
        done: dict[tuple[float, int], tuple[safe_zone.ChainOutcome, float]] = {}

        def run(fraction: float, seeds: list[int]) -> list[safe_zone.ChainOutcome]:
            for seed in seeds:
                if (fraction, seed) not in done:
                    started = time.process_time()
                    outcome = safe_zone.run_chain(params, anchor, modality, fraction, seed)
                    done[(fraction, seed)] = (outcome, time.process_time() - started)
            return [done[(fraction, seed)][0] for seed in seeds]

        started = time.perf_counter()
        found = safe_zone.search(run, settings, modality.headline)
        search_cpu = sum(cpu for _, cpu in done.values())
        print(f"  {name}: search done in {time.perf_counter() - started:.0f} s wall; sweeping", flush=True)
        full = safe_zone.sweep(run, settings, modality.headline)
        sweep_cpu = sum(cpu for _, cpu in done.values())
        table = pd.DataFrame(safe_zone.probes_table(full))
        figure = figures.safe_fraction(
            table,
            modality.headline,
            settings.tolerance,
            found.r_star,
            (found.low, found.high),
            ROOT / "docs/figures" / f"safe_zone_{name}.png",
        )
    return {
        "data": name,
        "rows": anchor.record.rows,
        "model": params.model.class_path.rsplit(":", 1)[-1],
        "search_r_star": found.r_star,
        "search_interval": f"[{found.low:.2f}, {found.high:.2f}]",
        "search_fits": found.fits,
        "search_cpu_s": round(search_cpu, 1),
        "sweep_r_star": full.r_star,
        "sweep_fits": full.fits,
        "sweep_cpu_s": round(sweep_cpu, 1),
        "fits_share": round(found.fits / full.fits, 3),
        "cpu_share": round(search_cpu / sweep_cpu, 3),
        "within_0.05": found.r_star is not None
        and full.r_star is not None
        and abs(found.r_star - full.r_star) <= 0.05 + 1e-9,
        "interval_covers_sweep": full.r_star is not None and found.low <= full.r_star <= found.high,
        "figure": str(figure.relative_to(ROOT)),
        "settings": f"G={settings.generations}, seeds={settings.seeds}, tol={settings.tolerance}, step={settings.step}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["default", "fair", "text"], choices=["default", "fair", "text"])
    parser.add_argument("--full-size", action="store_true", help="the shipped params sizes (slow)")
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average {os.getloadavg()}")
    rows = []
    for name in args.data:
        rows.append(compare(name, args.full_size))
        print(pd.Series(rows[-1]).to_string(), flush=True)
    print(f"\nload average at the end {os.getloadavg()}")
    print(pd.DataFrame(rows).drop(columns=["figure"]).to_markdown(index=False))


if __name__ == "__main__":
    main()
