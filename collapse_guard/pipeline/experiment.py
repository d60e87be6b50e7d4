"""Collapse experiments: one recursive training chain per (policy, seed), in memory.

A chain runs the guarded pipeline's generation step (collapse_guard.pipeline.step: curation, mixing
policies, the model interface, the collapse metrics, one seed schedule) but no gate, DVC or ledger:
experiments study collapse, they never ship a model. That is also why ``replace`` is allowed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, ExperimentParams, MixingParams, ModelParams, Params
from collapse_guard.generator import Generator
from collapse_guard.modality.base import Evaluator, Modality
from collapse_guard.pipeline.mixing import MixingPolicy, policy_named, summarise
from collapse_guard.pipeline.step import Chain, SeedSchedule, advance
from collapse_guard.records.anchor import AnchorSplit, describe


@dataclass(frozen=True)
class Switch:
    """From ``generation`` on, a chain mixes by another policy (and real fraction): a change of course mid-run."""

    generation: int
    policy: str
    real_fraction: float | None = None


@dataclass(frozen=True)
class ChainSpec:
    policy: str
    seed: int
    generations: int
    synthetic_per_generation: int
    real_fraction: float | None = None  # overrides mixing.real_fraction (safe-zone sweeps)
    anchor_rows: int | None = None  # use only the first n anchor records (safe-zone sweeps)
    keep_samples: bool = False  # keep each generation's evaluation samples (for scatter plots)
    keep_models: bool = False  # keep each generation's fitted model (the theory checks read their parameters)
    kind: str = "policy"  # "policy" (policies × seeds) or "sweep" (safe zone)
    switch: Switch | None = None  # a second policy from a later generation on (the forecast benchmark's chains)


@dataclass
class ChainResult:
    spec: ChainSpec
    rows: list[dict] = field(default_factory=list)
    samples: dict[int, pd.DataFrame] = field(default_factory=dict)
    models: dict[int, Generator] = field(default_factory=dict)


def simulate_chain(
    spec: ChainSpec,
    anchor: AnchorSplit,
    *,
    model: ModelParams,
    mixing: MixingParams,
    decoding: DecodingParams,
    modality: Modality,
    min_real_fraction: float = 0.0,
    policy: MixingPolicy | None = None,
    evaluator: Evaluator | None = None,
) -> ChainResult:
    """Generation 0 trains on real data; generation g on the policy's mixture of real and synthetic data,
    one ``collapse_guard.pipeline.step.advance`` per generation (the guarded run's steps and seeds).

    ``decoding`` is how each model generates the next generation's data; the metrics sample as every
    evaluation does (collapse_guard.modality.base.EVALUATION_DECODING).

    ``min_real_fraction`` is the gate's floor (gate.min_real_fraction): from the first generation whose mixture
    holds less real data, the chain is marked ``gate_blocked`` (a guarded run would have stopped there); it is
    still simulated, so the collapse the gate prevents stays visible, but no result reads as a shippable one.

    ``policy`` replaces the one ``mixing`` names (the theory checks' settings: an anchor plus the newest batch,
    fresh real records each round; a ``spec.switch`` still switches to the policy it names), ``evaluator`` the
    modality's metrics (the theory checks read the fitted models, and no policy they run looks at the metrics);
    every other step is the same."""
    if spec.anchor_rows:
        anchor = _first_rows(anchor, spec.anchor_rows)
    real = anchor.train
    first = policy or _policy(mixing, spec.policy, spec.real_fraction)
    second = _policy(mixing, spec.switch.policy, spec.switch.real_fraction) if spec.switch else first
    seeds = SeedSchedule(spec.seed)
    evaluator = evaluator or modality.evaluator(anchor)
    result = ChainResult(spec)
    chain = Chain()
    blocked = False
    for generation in range(spec.generations + 1):
        switched = spec.switch is not None and generation >= spec.switch.generation
        policy, fraction = (second, spec.switch.real_fraction) if switched else (first, spec.real_fraction)
        step = advance(
            chain,
            generation,
            modality=modality,
            anchor=anchor,
            real=real,
            policy=policy,
            model=model,
            decoding=decoding,
            synthetic_per_generation=spec.synthetic_per_generation,
            seeds=seeds,
            evaluator=evaluator,
        )
        summary = summarise(step.mixture, policy.name)
        blocked = blocked or summary.real_fraction < min_real_fraction
        result.rows.append(
            {
                "kind": spec.kind,
                "policy": spec.policy,
                "seed": spec.seed,
                "generation": generation,
                "anchor_rows": len(real),
                "target_real_fraction": fraction if fraction is not None else chain.target,
                "real_fraction": summary.real_fraction,
                "training_rows": summary.rows,
                "reason": summary.reason,
                "gate_blocked": blocked,
                **step.evaluation.to_dict(),
            }
        )
        if spec.keep_samples:
            result.samples[generation] = step.samples
        if spec.keep_models:
            result.models[generation] = chain.model
    return result


def simulate_under(
    params: Params, spec: ChainSpec, anchor: AnchorSplit, modality: Modality, decoding: DecodingParams | None = None
) -> ChainResult:
    """A chain under ``params``: its model, mixing, the gate's floor and the experiment's decoding (or ``decoding``),
    so the experiment flow and the benchmarks that replay its chains simulate the same thing."""
    return simulate_chain(
        spec,
        anchor,
        model=params.model,
        mixing=params.mixing,
        decoding=decoding or params.experiment.decoding,
        modality=modality,
        min_real_fraction=params.gate.min_real_fraction,
    )


def _policy(mixing: MixingParams, name: str, real_fraction: float | None) -> MixingPolicy:
    update: dict[str, object] = {"policy": name}
    if real_fraction is not None:
        update["real_fraction"] = real_fraction
    return policy_named(mixing.model_copy(update=update))


def _first_rows(anchor: AnchorSplit, rows: int) -> AnchorSplit:
    """The anchor as if only its first ``rows`` train records existed (safe-zone sweeps); same held-out split."""
    train = anchor.train.iloc[:rows].reset_index(drop=True)
    return AnchorSplit(train, train, anchor.held_out, describe(train))


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
    """(policy table, sweep table): one row per chain and generation, each chain's rows in generation order.

    A policy chain's target real share changes by generation (adaptive-ratio), so it is not a sort key there;
    a sweep chain's is fixed and is."""
    table = pd.DataFrame([row for result in results for row in result.rows])
    policy = table[table["kind"] == "policy"].sort_values(["policy", "anchor_rows", "seed", "generation"])
    sweep = table[table["kind"] == "sweep"].sort_values(
        ["anchor_rows", "target_real_fraction", "seed", "generation"], na_position="first"
    )
    return policy.reset_index(drop=True), sweep.reset_index(drop=True)


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
