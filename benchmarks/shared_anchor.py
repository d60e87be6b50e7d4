"""Why the product's chain read 7-14 % below the linear-regression formula at d = 5, T = 50: one shared anchor.

Linear regression (Gerstgrasser et al. 2024), d = 5 inputs, T = 50 records per generation, σ = 1, 5 generations
after the first fit, temperature 1, through the experiment's own chain (collapse_guard.pipeline.experiment:
curation, mixing, seed schedule, evaluation), in two ways:

1. **One anchor, many seeds** (what ``collapse-guard experiment`` runs): every chain starts from the same real
   sample, so the generation-0 fit, and its error, is one draw shared by all chains. Printed per block of 300
   seeds against the formula taken unconditionally (nσ²d/(T−d−1)) and conditionally on that shared first fit
   (e₀ + (n−1)σ²d/(T−d−1), exact under ``replace``).
2. **A fresh anchor per chain**, each paired with the tests' oracle loop (tests/theory.py: fit, sample, refit,
   nothing else) on the same real records: the product and the oracle agree chain for chain within their noise.

Run from the repository root: `OMP_NUM_THREADS=1 python benchmarks/shared_anchor.py [--seeds 1800] [--fresh 1000]`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collapse_guard import theory  # noqa: E402
from collapse_guard.config import Params  # noqa: E402
from collapse_guard.modality.registry import modality_for  # noqa: E402
from collapse_guard.pipeline.experiment import ChainSpec, simulate_under  # noqa: E402
from collapse_guard.records.anchor import AnchorSplit, describe, split  # noqa: E402
from collapse_guard.records.provenance import feature_columns, stamp_real  # noqa: E402
from tests.theory import run_chain  # noqa: E402

D, T, NOISE, GENERATIONS = 5, 50, 1.0, 5
WEIGHTS = np.random.default_rng(2).standard_normal(D)
C = theory.replace_error(1, NOISE**2, D, T)


def anchor_of(seed: int) -> AnchorSplit:
    frame = stamp_real(theory.regression_data(3 * T, WEIGHTS, NOISE, np.random.default_rng(1000 + seed)), "bench")
    train, held_out = split(frame, 0.2)
    return AnchorSplit(frame, train, held_out, describe(frame))


def chain_errors(params, modality, policy: str, seed: int, anchor: AnchorSplit) -> list[float]:
    result = simulate_under(params, ChainSpec(policy, seed, GENERATIONS, T, anchor_rows=T), anchor, modality)
    return [row["excess_test_error"] for row in result.rows]


def mean_se(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1800, help="chains on the one shared anchor")
    parser.add_argument("--fresh", type=int, default=1000, help="chains with a fresh anchor each (and their oracle)")
    args = parser.parse_args()
    params = Params.model_validate(
        {
            "run": {"mode": "experiment"},
            "model": {
                "class": "collapse_guard.theory:LinearRegressionGenerator",
                "options": {"noise_sd": NOISE, "true_weights": WEIGHTS.tolist()},
            },
            "evaluation": {"sample_size": 100, "distribution_metrics": False},
            "experiment": {"decoding": {"temperature": 1.0}},
        }
    )
    modality = modality_for(params)
    n = GENERATIONS + 1
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()}; d={D}, T={T}, n={n}, replace")
    started = time.process_time()

    shared = anchor_of(0)
    errors = np.array([chain_errors(params, modality, "replace", s, shared) for s in range(args.seeds)])
    e0 = errors[0, 0]
    unconditional, conditional = theory.replace_error(n, NOISE**2, D, T), e0 + (n - 1) * C
    print(f"\n1. one anchor: shared generation-0 error {e0:.4f} (its expectation {C:.4f})")
    print(f"   formula {unconditional:.4f} unconditional, {conditional:.4f} given that first fit")
    blocks = [(start, start + 300) for start in range(0, len(errors) - 299, 300)] + [(0, len(errors))]
    for start, stop in blocks:
        mean, se = mean_se(errors[start:stop, -1])
        label = f"seeds {start}-{stop - 1}"
        print(
            f"   {label:>16}: {mean:.4f} ± {se:.4f}   unconditional {mean / unconditional - 1:+.1%} "
            f"(z {(mean - unconditional) / se:+.1f})   conditional {mean / conditional - 1:+.1%} "
            f"(z {(mean - conditional) / se:+.1f})"
        )

    print(f"\n2. a fresh anchor per chain ({args.fresh} chains), paired with the oracle loop on the same records")
    for policy, formula in (("replace", theory.replace_error), ("accumulate", theory.accumulate_error_exact)):
        product, oracle = [], []
        for seed in range(args.fresh):
            anchor = anchor_of(10_000 + seed)
            product.append(chain_errors(params, modality, policy, seed, anchor))
            real = anchor.train.iloc[:T][feature_columns(anchor.train)].reset_index(drop=True)
            models = run_chain(lambda: theory.LinearRegressionGenerator(NOISE), real, GENERATIONS, policy, T, seed)
            oracle.append([theory.excess_test_error(m, WEIGHTS) for m in models])
        first = np.array(product)[:, 0]
        product, oracle = np.array(product)[:, -1], np.array(oracle)[:, -1]
        expected = formula(n, NOISE**2, D, T)
        mean, se = mean_se(first)
        print(f"   {policy:>10} first model (real fit): {mean:.4f} ± {se:.4f}  formula {C:.4f}  {mean / C - 1:+.1%}")
        for name, values in (("product", product), ("oracle", oracle)):
            mean, se = mean_se(values)
            relative = mean / expected - 1
            print(f"   {policy:>10} {name:>7}: {mean:.4f} ± {se:.4f}  formula {expected:.4f}  {relative:+.1%}")
        mean, se = mean_se(product - oracle)
        print(f"   {policy:>10} product − oracle, chain by chain: {mean:+.4f} ± {se:.4f}")
    print(f"\n{time.process_time() - started:.0f} s CPU; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
