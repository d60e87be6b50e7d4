"""How each collapse metric's cost grows with the data: 1×, 10× and 100× a base size, and what subsampling costs.

Reference and samples both grow (``--base`` rows each at 1×, default 4000 rows of the 2-D default data),
so a metric that is quadratic in either cannot hide. Prints seconds per metric at each size (best of a
few runs) and the growth exponent b of time ∝ nᵇ, fitted by least squares on log-log (b ≈ 1 linear,
≈ 2 quadratic, ≈ 0 for metrics that subsample to a fixed size). Then the error the subsampled kernel
metrics (MMD², Vendi) pay: subsampled estimates over several seeds against the exact value on every row.

    python benchmarks/metric_scaling.py [--quick] [--base 4000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.metrics import distance

RARE_WEIGHT = 0.025
MAX_KERNEL_ROWS = 1000  # the evaluation's default (EvaluationParams.max_kernel_rows)
K = 5


def best_seconds(fn: Callable[[], object], budget: float = 0.5, repeats: int = 5) -> float:
    """Best of up to ``repeats`` runs, stopping once ``budget`` seconds have been spent."""
    best, spent = math.inf, 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent > budget:
            break
    return best


def distance_metrics(samples: np.ndarray, reference: np.ndarray) -> dict[str, Callable[[], object]]:
    """The metrics of collapse_guard.metrics.distance, on standardised arrays, as the evaluation runs them."""
    return {
        "precision/recall (k-NN, exact)": lambda: distance.precision_recall(samples, reference, K),
        "density/coverage (k-NN, exact)": lambda: distance.density_coverage(samples, reference, K),
        "Wasserstein-1 (per feature)": lambda: distance.mean_wasserstein(samples, reference),
        "sliced Wasserstein-1 (50 dirs)": lambda: distance.sliced_wasserstein(samples, reference, 50),
        f"MMD² (≤ {MAX_KERNEL_ROWS} rows/side)": lambda: distance.mmd2(samples, reference, MAX_KERNEL_ROWS),
        f"Vendi score (≤ {MAX_KERNEL_ROWS} rows)": lambda: distance.vendi(samples, MAX_KERNEL_ROWS),
        "covariance trace ratio": lambda: distance.covariance_trace_ratio(samples, reference),
        "distribution_metrics (all)": lambda: distance.distribution_metrics(samples, reference, 0, K, MAX_KERNEL_ROWS),
    }


def tail_metrics(samples, reference) -> dict[str, Callable[[], object]]:
    """The tail metrics (collapse_guard.metrics.tails, maintained separately), when their API is as expected."""
    try:
        from collapse_guard.config import EvaluationParams
        from collapse_guard.tabular.evaluation import anchor_tail
        from collapse_guard.tabular.metrics.tails import tail_coverage, variance_ratio
    except ImportError as exc:
        print(f"(tail metrics skipped: {exc})")
        return {}
    settings = EvaluationParams()
    region = anchor_tail(reference, settings)
    return {
        f"tail region build (≤ {settings.max_tail_rows} rows)": lambda: anchor_tail(reference, settings),
        "tail coverage (given region)": lambda: tail_coverage(region, samples, reference),
        "variance ratio (tails)": lambda: variance_ratio(samples, reference),
    }


def growth_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(np.maximum(seconds, 1e-9)), 1)[0])


def scaling_table(base: int, factors: tuple[int, ...], with_tails: bool) -> None:
    rng = np.random.default_rng(0)
    sizes, timings = [], []
    for factor in factors:
        n = base * factor
        reference_frame = sample_default(n, RARE_WEIGHT, rng)
        samples_frame = sample_default(n, RARE_WEIGHT / 2, rng)  # a model that has lost half the rare mass
        samples, reference = distance.standardise(samples_frame, reference_frame)
        metrics = distance_metrics(samples, reference)
        if with_tails:
            try:
                metrics.update(tail_metrics(samples_frame, reference_frame))
            except TypeError as exc:  # the tails API changed under us: time the rest
                print(f"(tail metrics skipped: {exc})")
        timings.append({name: best_seconds(fn) for name, fn in metrics.items()})
        sizes.append(n)
        print(f"measured {n} rows per side", flush=True)

    names = [name for name in timings[0] if all(name in t for t in timings)]
    print(f"\n{'metric':<40}" + "".join(f"{n:>11} rows" for n in sizes) + "   exponent b")
    for name in names:
        seconds = [t[name] for t in timings]
        row = "".join(f"{s:15.4f}s" for s in seconds)
        print(f"{name:<40}{row}   {growth_exponent(sizes, seconds):8.2f}")


def subsampling_error(rows: int, seeds: int = 10) -> None:
    """Subsampled MMD² and Vendi (MAX_KERNEL_ROWS rows) against their exact values on ``rows`` rows."""
    rng = np.random.default_rng(1)
    reference_frame = sample_default(rows, RARE_WEIGHT, rng)
    print(f"\nsubsampling error: {MAX_KERNEL_ROWS} rows against all {rows} (same bandwidth), {seeds} seeds")
    for label, rare in (("healthy samples", RARE_WEIGHT), ("rare modes dropped", 0.0)):
        samples, reference = distance.standardise(sample_default(rows, rare, rng), reference_frame)
        bandwidth = distance.median_bandwidth(reference[:2000])
        start = time.perf_counter()
        exact_mmd = distance.mmd2_unbiased(samples, reference, bandwidth)
        exact_vendi = distance.vendi_score(samples, bandwidth)
        exact_seconds = time.perf_counter() - start
        mmd = np.array([distance.mmd2(samples, reference, MAX_KERNEL_ROWS, s, bandwidth) for s in range(seeds)])
        vendi = np.array([distance.vendi(samples, MAX_KERNEL_ROWS, s, bandwidth) for s in range(seeds)])
        print(
            f"  {label:<20} MMD² exact {exact_mmd:+.5f}, subsampled {mmd.mean():+.5f} ± {mmd.std(ddof=1):.5f} "
            f"(max |error| {np.abs(mmd - exact_mmd).max():.5f}); "
            f"Vendi exact {exact_vendi:.2f}, subsampled {vendi.mean():.2f} ± {vendi.std(ddof=1):.2f} "
            f"({100 * (vendi.mean() / exact_vendi - 1):+.1f} %); exact both {exact_seconds:.1f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1× and 10× only; subsampling error at 2000 rows")
    parser.add_argument("--base", type=int, default=4000, help="rows per side at 1× (default 4000)")
    parser.add_argument("--no-tails", action="store_true", help="time only collapse_guard.metrics.distance")
    args = parser.parse_args()

    factors = (1, 10) if args.quick else (1, 10, 100)
    scaling_table(args.base, factors, with_tails=not args.no_tails)
    subsampling_error(2000 if args.quick else 4000)


if __name__ == "__main__":
    main()
