"""How each collapse metric's cost grows with the anchor: 1×, 10× and 100× the default size.

Prints seconds per metric at each size and the growth exponent b of time ∝ nᵇ between 1× and 100×,
so a quadratic metric cannot hide (b ≈ 1 is linear, b ≈ 2 quadratic). The evaluation sample stays
at its configured size (the model's samples do not grow with the anchor). Then the error that
subsampling adds: tail coverage with the tail built from ``max_tail_rows`` rows against the full anchor.

    python benchmarks/metric_scaling.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collapse_guard.config import EvaluationParams  # noqa: E402
from collapse_guard.default_data import sample_default  # noqa: E402
from collapse_guard.evaluation import anchor_tail  # noqa: E402
from collapse_guard.metrics.distance import (  # noqa: E402
    knn_metrics,
    mean_wasserstein,
    median_bandwidth,
    mmd2_unbiased,
    vendi_score,
)
from collapse_guard.metrics.tails import tail_coverage, tail_region, variance_ratio  # noqa: E402


def _timed(fn, *args):  # noqa: ANN001, ANN002, ANN202
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def time_metrics(samples, anchor, held_out, settings, rng) -> dict[str, float]:  # noqa: ANN001
    """Seconds each metric takes on these frames, in the order the evaluation computes them."""
    z_samples, z_held = samples.to_numpy(), held_out.to_numpy()
    kernel_n = settings.max_kernel_rows
    kernel_held = z_held[rng.choice(len(z_held), size=min(kernel_n, len(z_held)), replace=False)]
    h = median_bandwidth(np.vstack([z_samples[:kernel_n], kernel_held]))
    seconds = {}
    region, seconds["tail region (build)"] = _timed(anchor_tail, anchor, settings)
    _, seconds["tail coverage (given region)"] = _timed(tail_coverage, region, samples, held_out)
    _, seconds["variance ratio"] = _timed(variance_ratio, samples, anchor)
    _, seconds["k-NN precision/recall/density/coverage"] = _timed(knn_metrics, z_samples, z_held, settings.knn_k)
    _, seconds["Wasserstein (per feature)"] = _timed(mean_wasserstein, z_samples, z_held)
    _, seconds["MMD² (subsampled)"] = _timed(mmd2_unbiased, z_samples[:kernel_n], kernel_held, h)
    _, seconds["Vendi score (subsampled)"] = _timed(vendi_score, z_samples[:kernel_n], h)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1× and 10× only")
    args = parser.parse_args()

    settings = EvaluationParams()
    base = 4000
    factors = (1, 10) if args.quick else (1, 10, 100)
    rng = np.random.default_rng(0)
    samples = sample_default(settings.sample_size, 0.025, rng)
    rows = []
    for factor in factors:
        n = base * factor
        anchor = sample_default(n, 0.025, rng)
        held_out = sample_default(n // 5, 0.025, rng)  # the held-out split grows with the anchor
        rows.append((n, time_metrics(samples, anchor, held_out, settings, rng)))
        print(f"measured anchor of {n} rows", flush=True)

    names = list(rows[0][1])
    print(f"\n{'metric':<40}" + "".join(f"{n:>12}" for n, _ in rows) + "   exponent b")
    for name in names:
        times = [t[name] for _, t in rows]
        b = math.log(times[-1] / times[0]) / math.log(rows[-1][0] / rows[0][0]) if times[0] > 0 else float("nan")
        print(f"{name:<40}" + "".join(f"{t:11.3f}s" for t in times) + f"   {b:6.2f}")

    # the error subsampling the tail region adds, at 10× (full build still affordable there)
    anchor = sample_default(base * 10, 0.025, rng)
    held_out = sample_default(base * 2, 0.025, rng)
    start = time.perf_counter()
    full = tail_region(anchor, settings.knn_k, settings.tail_quantile, settings.rarity_mass, max_rows=len(anchor))
    full_seconds = time.perf_counter() - start
    for label, model_samples in (("real samples", samples), ("rare mass halved", sample_default(4000, 0.0125, rng))):
        exact = tail_coverage(full, model_samples, held_out)
        subsampled = [
            tail_coverage(
                tail_region(
                    anchor, settings.knn_k, settings.tail_quantile, settings.rarity_mass, settings.max_tail_rows, seed
                ),
                model_samples,
                held_out,
            )
            for seed in range(5)
        ]
        print(
            f"tail coverage, {label}: full anchor ({len(anchor)} rows, {full_seconds:.1f}s) {exact:.3f}; "
            f"built from {settings.max_tail_rows} rows {np.mean(subsampled):.3f} ± {np.std(subsampled):.3f} "
            f"(max |error| {max(abs(s - exact) for s in subsampled):.3f})"
        )


if __name__ == "__main__":
    main()
