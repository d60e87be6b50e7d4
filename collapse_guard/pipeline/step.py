"""One generation, in plain Python: generate → curate → mix → train → evaluate.

The guarded flow runs each of these functions as its own Prefect task (with the gate between mix and
train, and the record-keeping after); the collapse experiment runs ``advance`` in memory. Both draw every
random number from one ``SeedSchedule`` and evaluate with one decoding rule
(collapse_guard.modality.base.EVALUATION_DECODING), so a number means the same thing in both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, ModelParams
from collapse_guard.generator import Generator, build_generator
from collapse_guard.modality.base import CurationReport, Evaluation, Evaluator, Modality
from collapse_guard.pipeline.mixing import MixContext, MixingPolicy, Mixture
from collapse_guard.records.anchor import AnchorSplit
from collapse_guard.records.provenance import feature_columns


@dataclass(frozen=True)
class SeedSchedule:
    """Every random draw of generation ``g`` from one base seed (``run.seed``, or an experiment chain's seed).

    Offsets keep the draws of one generation apart; generations stay apart up to 250 per base."""

    base: int

    def generate(self, generation: int) -> int:
        return self.base * 1_000 + generation

    def train(self, generation: int) -> int:
        return self.base * 1_000 + generation

    def mix(self, generation: int) -> int:
        return self.base * 1_000 + generation + 250

    def evaluate(self, generation: int) -> int:
        return self.base * 1_000 + generation + 500


def synthesize(
    modality: Modality,
    model: Generator,
    n: int,
    decoding: DecodingParams,
    anchor: AnchorSplit,
    *,
    generation: int,
    seeds: SeedSchedule,
    model_id: str,
    run_id: str,
    hasher: Callable | None = None,
) -> tuple[pd.DataFrame, CurationReport]:
    """``n`` records from the previous generation's ``model``, stamped and curated against the anchor
    (``hasher``: where the per-record hashing runs, ``Modality.synthesize``)."""
    return modality.synthesize(
        model,
        n,
        decoding,
        seeds.generate(generation),
        anchor,
        generation=generation,
        model_id=model_id,
        run_id=run_id,
        hasher=hasher,
    )


def mix(
    policy: MixingPolicy,
    modality: Modality,
    real: pd.DataFrame,
    pools: Sequence[pd.DataFrame],
    *,
    generation: int,
    seeds: SeedSchedule,
    history: Sequence[dict[str, float]] = (),
    previous_target: float | None = None,
) -> Mixture:
    """The training mixture: the policy's choice from the real records and the synthetic pools (oldest first)."""
    context = MixContext(
        rng=np.random.default_rng(seeds.mix(generation)),
        history=list(history),
        previous_target=previous_target,
        select=modality.select,
        signals=modality.headline,
    )
    return policy.mix(real, list(pools), context)


def train(model: ModelParams, mixture: pd.DataFrame, *, generation: int, seeds: SeedSchedule) -> Generator:
    """A fresh model fitted on the mixture's payload (provenance never reaches the model)."""
    generator = build_generator(model)
    generator.fit(mixture[feature_columns(mixture)], seed=seeds.train(generation))
    return generator


def evaluate(
    evaluator: Evaluator, model: Generator, *, generation: int, seeds: SeedSchedule
) -> tuple[Evaluation, pd.DataFrame]:
    return evaluator(model, seeds.evaluate(generation))


@dataclass
class Chain:
    """A recursive training chain held in memory: what one generation hands the next."""

    model: Generator | None = None
    pools: list[pd.DataFrame] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    target: float | None = None


@dataclass(frozen=True)
class StepResult:
    generation: int
    mixture: Mixture
    curation: CurationReport | None
    evaluation: Evaluation
    samples: pd.DataFrame = field(repr=False)


def advance(
    chain: Chain,
    generation: int,
    *,
    modality: Modality,
    anchor: AnchorSplit,
    real: pd.DataFrame,
    policy: MixingPolicy,
    model: ModelParams,
    decoding: DecodingParams,
    synthetic_per_generation: int,
    seeds: SeedSchedule,
    evaluator: Evaluator,
) -> StepResult:
    """One generation of ``chain`` in memory (generation 0 trains on ``real`` only); updates ``chain``."""
    curation = None
    if generation > 0:
        kept, curation = synthesize(
            modality,
            chain.model,
            synthetic_per_generation,
            decoding,
            anchor,
            generation=generation,
            seeds=seeds,
            model_id=f"chain-g{generation - 1}",
            run_id="experiment",
        )
        chain.pools.append(kept)
    mixture = mix(
        policy,
        modality,
        real,
        chain.pools,
        generation=generation,
        seeds=seeds,
        history=chain.history,
        previous_target=chain.target,
    )
    chain.target = mixture.target_real_fraction
    chain.model = train(model, mixture.frame, generation=generation, seeds=seeds)
    evaluation, samples = evaluate(evaluator, chain.model, generation=generation, seeds=seeds)
    chain.history.append(evaluation.to_dict())
    return StepResult(generation, mixture, curation, evaluation, samples)
