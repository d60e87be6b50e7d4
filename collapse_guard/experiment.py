"""Collapse experiments: one recursive training chain per (policy, seed), in memory.

A chain uses the same mechanisms as the guarded pipeline (curation, mixing policies, the model
interface, the collapse metrics) but no gate, DVC or ledger: experiments study collapse, they never
ship a model. That is also why ``replace`` is allowed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, ExperimentParams, MixingParams, ModelParams
from collapse_guard.mixing import MixContext, policy_named, summarise
from collapse_guard.modality import Modality
from collapse_guard.models import build_generator
from collapse_guard.provenance import feature_columns


@dataclass(frozen=True)
class ChainSpec:
    policy: str
    seed: int
    generations: int
    synthetic_per_generation: int
    real_fraction: float | None = None  # overrides mixing.real_fraction (safe-zone sweeps)
    anchor_rows: int | None = None  # use only the first n anchor records (safe-zone sweeps)
    keep_samples: bool = False  # keep each generation's evaluation samples (for scatter plots)
    kind: str = "policy"  # "policy" (policies × seeds) or "sweep" (safe zone)


@dataclass
class ChainResult:
    spec: ChainSpec
    rows: list[dict] = field(default_factory=list)
    samples: dict[int, pd.DataFrame] = field(default_factory=dict)


def simulate_chain(
    spec: ChainSpec,
    real_train: pd.DataFrame,
    held_out: pd.DataFrame,
    *,
    model: ModelParams,
    mixing: MixingParams,
    decoding: DecodingParams,
    modality: Modality,
) -> ChainResult:
    """Generation 0 trains on real data; generation g on the policy's mixture of real and synthetic data.

    ``decoding`` is how each model generates the next generation's data; metrics sample with defaults."""
    real = real_train.iloc[: spec.anchor_rows].reset_index(drop=True) if spec.anchor_rows else real_train
    features = feature_columns(real)
    update = {"policy": spec.policy}
    if spec.real_fraction is not None:
        update["real_fraction"] = spec.real_fraction
    policy = policy_named(mixing.model_copy(update=update))
    rng = np.random.default_rng(spec.seed)
    evaluate = modality.evaluator(real[features], held_out[features], DecodingParams())
    result = ChainResult(spec)
    pools: list[pd.DataFrame] = []
    history: list[dict] = []
    target = None
    generator = build_generator(model)
    generator.fit(real[features], seed=spec.seed)
    for generation in range(spec.generations + 1):
        if generation > 0:
            kept, _ = modality.synthesize(
                generator,
                spec.synthetic_per_generation,
                decoding,
                _seed(spec, generation),
                real,
                generation=generation,
                model_id=f"chain-g{generation - 1}",
                run_id="experiment",
            )
            pools.append(kept)
            mixture = policy.mix(real, pools, MixContext(rng, list(history), target))
            target = mixture.target_real_fraction
            summary = summarise(mixture, policy.name)
            generator = build_generator(model)
            generator.fit(mixture.frame[features], seed=_seed(spec, generation))
        else:
            summary = None
        metrics, samples = evaluate(generator, _seed(spec, generation) + 7)
        row = metrics.to_dict()
        history.append(row)
        result.rows.append(
            {
                "kind": spec.kind,
                "policy": spec.policy,
                "seed": spec.seed,
                "generation": generation,
                "anchor_rows": len(real),
                "target_real_fraction": spec.real_fraction if spec.real_fraction is not None else target,
                "real_fraction": summary.real_fraction if summary else 1.0,
                "training_rows": summary.rows if summary else len(real),
                "reason": summary.reason if summary else "",
                **row,
            }
        )
        if spec.keep_samples:
            result.samples[generation] = samples
    return result


def plan(experiment: ExperimentParams, sweep: bool = True) -> list[ChainSpec]:
    """Every chain to run: policies × seeds, then the safe-zone grid (fixed-ratio)."""
    specs = [
        ChainSpec(
            policy,
            seed,
            experiment.generations,
            experiment.synthetic_per_generation,
            anchor_rows=experiment.anchor_rows or None,
            keep_samples=seed == 0,
        )
        for policy in experiment.policies
        for seed in range(experiment.seeds)
    ]
    if sweep:
        grid = experiment.sweep
        specs += [
            ChainSpec(
                "fixed-ratio",
                seed,
                grid.generations,
                experiment.synthetic_per_generation,
                real_fraction=fraction,
                anchor_rows=rows,
                kind="sweep",
            )
            for rows in grid.anchor_rows
            for fraction in grid.real_fractions
            for seed in range(grid.seeds)
        ]
    return specs


def tidy(results: list[ChainResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(policy table, sweep table): one row per chain and generation, sorted."""
    table = pd.DataFrame([row for result in results for row in result.rows])
    order = ["kind", "policy", "anchor_rows", "target_real_fraction", "seed", "generation"]
    table = table.sort_values(order, na_position="first").reset_index(drop=True)
    return table[table["kind"] == "policy"].reset_index(drop=True), table[table["kind"] == "sweep"].reset_index(
        drop=True
    )


def generations_until(table: pd.DataFrame, metric: str, threshold: float, consecutive: int = 2) -> pd.DataFrame:
    """Per chain, the first generation from which ``metric`` stays below ``threshold`` for ``consecutive``
    generations (or until the chain ends); NaN means never, i.e. safe. Requiring the drop to persist keeps
    one noisy evaluation from declaring a setting unsafe."""

    def first_sustained_drop(chain: pd.DataFrame) -> float:
        below = (chain.sort_values("generation")[metric] < threshold).to_numpy()
        generations = chain.sort_values("generation")["generation"].to_numpy()
        for i in range(len(below)):
            if below[i : i + consecutive].all():
                return float(generations[i])
        return np.nan

    keys = ["anchor_rows", "target_real_fraction", "seed"]
    return (
        table.groupby(keys)
        .apply(first_sustained_drop, include_groups=False)
        .rename("generations_until_below")
        .reset_index()
    )


def _seed(spec: ChainSpec, generation: int) -> int:
    return spec.seed * 10_000 + generation
