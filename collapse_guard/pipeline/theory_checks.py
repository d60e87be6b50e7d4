"""The closed forms of collapse_guard.theory, reproduced by the product's own chain.

Every check runs ``collapse_guard.pipeline.experiment.simulate_chain`` (the guarded run's steps: the previous
model generates, the modality curates, the mixing policy mixes, a fresh model trains, the evaluator measures,
every draw from one ``SeedSchedule``) on the tabular modality with a generator of collapse_guard.theory, and
compares the fitted models' parameters with the formula.

Two choices make the comparison mean what the formula means:

- **Each chain draws its own real sample.** The formulas are expectations over the real data too. Chains
  that share one anchor share one generation-0 fit: its error enters every chain alike, more seeds do not
  average it away, and the standard error over seeds does not see it. (This is why a shared-anchor run of the
  product at d = 5, T = 50 read 7–14 % below the regression formula with z ≈ −2.4: docs/safe-real-fraction.md.)
- **Sampling is unbiased** (temperature 1): the experiment's default decoding (``experiment.decoding``, a
  sampling bias of 0.9) is a different setting with its own closed forms (λⁿ, see collapse_guard.theory).

Each table holds many independent problems side by side (features, column blocks), so one chain of the
product carries hundreds of the formula's chains. A check passes when the measured mean is within 1 % of the
closed form, or when the closed form lies inside the measurement's 99 % Monte-Carlo interval (its width is
printed, so a check too noisy to tell is visible as one).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from collapse_guard import theory
from collapse_guard.config import DecodingParams, Params
from collapse_guard.generator import Generator
from collapse_guard.modality.base import Evaluation, Evaluator
from collapse_guard.pipeline.experiment import ChainSpec, simulate_chain
from collapse_guard.pipeline.mixing import Accumulate, MixContext, Mixture, Replace
from collapse_guard.records import anchor as anchor_records
from collapse_guard.records.anchor import AnchorSplit
from collapse_guard.records.provenance import stamp_real

TOLERANCE = 0.01  # relative


@dataclass(frozen=True)
class TheoryCheck:
    """One closed form against what the product's chain measured."""

    name: str
    reference: str
    formula: str
    sizes: str  # the setting it was measured at, in the formula's symbols
    closed_form: float
    measured: float
    low: float  # 99 % Monte-Carlo interval of the measurement
    high: float
    seeds: str  # the chain seeds (each chain's real sample and its SeedSchedule)
    chains: int  # chains of the product run
    problems: int  # independent problems those chains carry (the formula's chains)
    fits: int  # model fits
    cpu_seconds: float
    note: str = ""
    tolerance: float = TOLERANCE

    @property
    def relative_error(self) -> float:
        return self.measured / self.closed_form - 1

    @property
    def passed(self) -> bool:
        return abs(self.relative_error) <= self.tolerance or self.low <= self.closed_form <= self.high

    def to_dict(self) -> dict:
        return {**asdict(self), "relative_error": self.relative_error, "passed": self.passed}


@dataclass(frozen=True)
class Sizes:
    """How many chains each check runs (``scale`` × the default: tests run a tenth)."""

    scale: float = 1.0

    def chains(self, full: int) -> int:
        return max(4, round(full * self.scale))


class AnchorPlusNewest:
    """Every real record plus the newest synthetic batch only (Bertrand et al. 2024's setting)."""

    name = "anchor-plus-newest"

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame], context: MixContext) -> Mixture:
        return Mixture(pd.concat([real, *synthetic_pools[-1:]], ignore_index=True))


@dataclass
class FreshRealPlusNewest:
    """Round g trains on the g-th slice of ``rows`` real records (fresh real data), first, then the newest
    synthetic batch (He et al. 2025's setting; collapse_guard.theory.FreshRealWeightedMean weighs them)."""

    rows: int
    name: str = "fresh-real-plus-newest"

    def mix(self, real: pd.DataFrame, synthetic_pools: list[pd.DataFrame], context: MixContext) -> Mixture:
        start = len(synthetic_pools) * self.rows
        fresh = real.iloc[start : start + self.rows]
        return Mixture(pd.concat([fresh, *synthetic_pools[-1:]], ignore_index=True))


def theory_params(params: Params, model_class: str, options: dict) -> Params:
    """The workspace's params with the check's model, on tables (the curation is the workspace's own)."""
    return params.model_copy(
        update={
            "data": params.data.model_copy(update={"modality": "tabular"}),
            "model": params.model.model_copy(update={"class_path": model_class, "options": options}),
        }
    )


def anchor_of(real: pd.DataFrame, held_out: pd.DataFrame) -> AnchorSplit:
    """An in-memory anchor whose train split is exactly ``real`` (the formula's real sample)."""
    train, held = stamp_real(real, origin="theory"), stamp_real(held_out, origin="theory")
    frame = pd.concat([train, held], ignore_index=True)
    return AnchorSplit(frame, train, held, anchor_records.describe(frame))


def run_chains(
    params: Params,
    model_class: str,
    options: dict,
    policy,
    seeds: list[int],
    generations: int,
    synthetic: int,
    real_for: Callable[[int], tuple[pd.DataFrame, pd.DataFrame]],
) -> list[dict]:
    """One product chain per seed, each on its own real sample; each chain's fitted models by generation."""
    from collapse_guard.modality.registry import modality_for

    settings = theory_params(params, model_class, options)
    modality = modality_for(settings)
    chains = []
    for seed in seeds:
        anchor = anchor_of(*real_for(seed))
        result = simulate_chain(
            ChainSpec(policy.name, seed, generations, synthetic, keep_models=True),
            anchor,
            model=settings.model,
            mixing=settings.mixing,
            decoding=DecodingParams(),
            modality=modality,
            policy=policy,
            evaluator=diagnostics_only(modality),
        )
        chains.append(result.models)
    return chains


def diagnostics_only(modality) -> Evaluator:
    """An evaluator that reports the model's own diagnostics and no metric: the formulas are about the fitted
    parameters, and the policies of the checks never read a metric, so the chain is the same without them."""

    def evaluate(model: Generator, seed: int) -> tuple[Evaluation, pd.DataFrame]:
        return Evaluation({}, modality.headline, model.diagnostics()), pd.DataFrame()

    return evaluate


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean of per-chain values and its 99 % Student-t interval (a few chains at tiny sizes: not the normal's)."""
    from scipy.stats import t

    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, -math.inf, math.inf
    half = float(t.ppf(0.995, len(values) - 1)) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def seed_range(base: int, count: int) -> list[int]:
    return list(range(base, base + count))


# ---------------------------------------------------------------------------------------------------- checks


def seeded_real(
    draw: Callable[[int, np.random.Generator], pd.DataFrame], rows: int
) -> Callable[[int], tuple[pd.DataFrame, pd.DataFrame]]:
    """A chain's real data: ``rows`` records and 20 held-out ones, drawn in that order from the chain's seed."""

    def real_for(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = np.random.default_rng(seed)
        return draw(rows, rng), draw(20, rng)

    return real_for


class Setting:
    """One closed form: ``measure`` runs chains for some seeds and returns one row of numbers per chain (so the
    seeds can be split between processes), ``summarise`` turns all rows into the check."""

    name: str
    seed_base: int
    full_chains: int
    generations: int

    def measure(self, params: Params, seeds: list[int]) -> np.ndarray:
        raise NotImplementedError

    def summarise(self, values: np.ndarray, seeds: list[int], cpu_seconds: float) -> TheoryCheck:
        raise NotImplementedError

    def seeds(self, sizes: Sizes) -> list[int]:
        return seed_range(self.seed_base, sizes.chains(self.full_chains))

    def effort(self, seeds: list[int], cpu_seconds: float, problems_per_chain: int, arms: int = 1) -> dict:
        """What a check cost, the same way for every setting: ``arms`` chains per seed, each solving
        ``problems_per_chain`` independent problems with a fit per generation."""
        chains = len(seeds) * arms
        return {
            "seeds": _span(seeds),
            "chains": chains,
            "problems": chains * problems_per_chain,
            "fits": chains * (self.generations + 1),
            "cpu_seconds": cpu_seconds,
        }


class GaussianMLEVariance(Setting):
    name, seed_base, full_chains = "gaussian-mle-variance", 100_000, 100
    m, dims, generations = 20, 400, 5

    def measure(self, params: Params, seeds: list[int]) -> np.ndarray:
        real_for = seeded_real(lambda rows, rng: theory.gaussian_data(rows, self.dims, 1.0, rng), self.m)

        chains = run_chains(
            params,
            "collapse_guard.theory:GaussianGenerator",
            {"estimator": "mle"},
            Replace(),
            seeds,
            self.generations,
            self.m,
            real_for,
        )
        return np.array([[np.mean(c[self.generations].variance / c[0].variance)] for c in chains])

    def summarise(self, values: np.ndarray, seeds: list[int], cpu_seconds: float) -> TheoryCheck:
        mean, low, high = interval(values[:, 0])
        return TheoryCheck(
            name=self.name,
            reference="Shumailov et al. 2024 (s. 4.2)",
            formula="E[σ²ₙ/σ²₀] = ((M−1)/M)ⁿ",
            sizes=f"M={self.m}, n={self.generations}, replace",
            closed_form=theory.mle_variance_decay(self.generations, self.m),
            measured=mean,
            low=low,
            high=high,
            **self.effort(seeds, cpu_seconds, self.dims),
        )


class Regression(Setting):
    d, t, noise, blocks, generations = 5, 50, 1.0, 100, 5

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.name = f"regression-{policy}"
        self.seed_base, self.full_chains = (200_000, 120) if policy == "replace" else (300_000, 60)
        self.weights = np.random.default_rng(2).standard_normal(self.d)

    def measure(self, params: Params, seeds: list[int]) -> np.ndarray:
        real_for = seeded_real(
            lambda rows, rng: theory.regression_data(rows, self.weights, self.noise, rng, self.blocks), self.t
        )

        policy = Replace() if self.policy == "replace" else Accumulate()
        options = {"noise_sd": self.noise, "true_weights": self.weights.tolist()}
        chains = run_chains(
            params,
            "collapse_guard.theory:LinearRegressionGenerator",
            options,
            policy,
            seeds,
            self.generations,
            self.t,
            real_for,
        )
        return np.array([[theory.excess_test_error(c[g], self.weights) for g in (self.generations, 0)] for c in chains])

    def summarise(self, values: np.ndarray, seeds: list[int], cpu_seconds: float) -> TheoryCheck:
        d, t, noise_var = self.d, self.t, self.noise**2
        n = self.generations + 1  # the model of generation g is the (g+1)-th model of the theory
        mean, low, high = interval(values[:, 0])
        first = theory.replace_error(1, noise_var, d, t)
        if self.policy == "replace":
            closed, formula, theorem = theory.replace_error(n, noise_var, d, t), "E‖ŵₙ−w*‖² = nσ²d/(T−d−1)", "thm 1"
            note = f"linear in n: model {n} has {n} × the error of the first ({first:.4f})"
        else:
            closed, formula, theorem = (
                theory.accumulate_error_exact(n, noise_var, d, t),
                "E‖ŵₙ−w*‖² = σ²Σᵢ d/(i(iT−d−1))",
                "thm 2",
            )
            ratio = mean / float(np.mean(values[:, 1]))
            note = (
                f"the paper's bound σ²d/(T−d−1)·Σ1/i² = {theory.accumulate_error(n, noise_var, d, t):.4f}; "
                f"measured / first model = {ratio:.3f}, bounded by π²/6 = {math.pi**2 / 6:.3f}"
            )
        return TheoryCheck(
            name=self.name,
            reference=f"Gerstgrasser et al. 2024 ({theorem})",
            formula=formula,
            sizes=f"d={d}, T={t}, n={n}, σ={self.noise:g}, {self.policy}",
            closed_form=closed,
            measured=mean,
            low=low,
            high=high,
            **self.effort(seeds, cpu_seconds, self.blocks),
            note=note,
        )


class AnchoredMean(Setting):
    name, seed_base, full_chains = "anchored-gaussian-mean", 400_000, 80
    n, lam, dims, generations, settled = 20, 1.0, 400, 8, 4

    def measure(self, params: Params, seeds: list[int]) -> np.ndarray:
        real_for = seeded_real(lambda rows, rng: theory.gaussian_data(rows, self.dims, 1.0, rng), self.n)

        chains = run_chains(
            params,
            "collapse_guard.theory:GaussianGenerator",
            {"variance": 1.0},
            AnchorPlusNewest(),
            seeds,
            self.generations,
            round(self.lam * self.n),
            real_for,
        )
        rounds = range(self.settled, self.generations + 1)
        return np.array([[np.mean([self.n * np.mean((c[g].mean - c[0].mean) ** 2) for g in rounds])] for c in chains])

    def summarise(self, values: np.ndarray, seeds: list[int], cpu_seconds: float) -> TheoryCheck:
        mean, low, high = interval(values[:, 0])
        rounds = range(self.settled, self.generations + 1)
        lam = self.lam
        return TheoryCheck(
            name=self.name,
            reference="Bertrand et al. 2024 (setting)",
            formula="N·E[(μ̂ₜ−x̄)²]/σ² = λ/(1+2λ)·(1−a²ᵗ), a=λ/(1+λ)",
            sizes=f"N={self.n}, λ={lam:g}, t={self.settled}..{self.generations}, anchor + newest batch",
            closed_form=float(np.mean([theory.anchored_mean_error(g, lam) for g in rounds])),
            measured=mean,
            low=low,
            high=high,
            **self.effort(seeds, cpu_seconds, self.dims),
            note=f"x̄: the real anchor's mean; limit λ/(1+2λ) = {lam / (1 + 2 * lam):.4f}, below 1/2 for every λ: "
            "no collapse",
        )


class CategoricalCollision(Setting):
    name, seed_base, full_chains = "categorical-collision", 500_000, 100
    samples, levels, columns, generations = 20, 10, 100, 10

    def measure(self, params: Params, seeds: list[int]) -> np.ndarray:
        p_true = 1 / np.arange(1, self.levels + 1)
        p_true /= p_true.sum()  # Zipf-like: a few common tokens, a tail of rare ones

        real_for = seeded_real(lambda rows, rng: theory.categorical_data(rows, p_true, self.columns, rng), self.samples)

        chains = run_chains(
            params,
            "collapse_guard.theory:CategoricalGenerator",
            {},
            Replace(),
            seeds,
            self.generations,
            self.samples,
            real_for,
        )
        rows = []
        for c in chains:
            start = c[0].collisions()
            predicted = [theory.collision_probability(self.generations, self.samples, s0) for s0 in start]
            rows.append([c[self.generations].collisions().mean(), float(np.mean(predicted)), start.mean()])
        return np.array(rows)

    def summarise(self, values: np.ndarray, seeds: list[int], cpu_seconds: float) -> TheoryCheck:
        closed = float(values[:, 1].mean())
        offset, low, high = interval(values[:, 0] - values[:, 1])  # paired with each column's own S₀
        return TheoryCheck(
            name=self.name,
            reference="Seddik et al. 2024 (fully synthetic)",
            formula="E[S_m] = 1 − (1 − 1/n)^m (1 − S₀), S = Σⱼ pⱼ²",
            sizes=f"n={self.samples}, m={self.generations}, {self.levels} levels, replace",
            closed_form=closed,
            measured=closed + offset,
            low=closed + low,
            high=closed + high,
            **self.effort(seeds, cpu_seconds, self.columns),
            note=f"S₀ = {values[:, 2].mean():.3f} (the fit on the real sample); the closed form is taken per "
            "column from its own S₀",
        )


class GoldenRatio(Setting):
    """The variance of He et al.'s weighted estimator measured on a grid of weights (the same seeds, so the
    same real data and draws, for every weight), a cubic through it, and its minimum against w*."""

    name, seed_base, full_chains = "golden-ratio-weight", 600_000, 16
    n, m, dims, generations, settled = 20, 20, 400, 8, 4
    weights = (0.40, 0.475, 0.55, 0.625, 0.70, 0.775, 0.85)

    def measure(self, params: Params, seeds: list[int]) -> np.ndarray:
        real_for = seeded_real(
            lambda rows, rng: theory.gaussian_data(rows, self.dims, 1.0, rng), self.n * (self.generations + 1)
        )

        variances = np.empty((len(seeds), len(self.weights)))  # chains × weights
        rounds = range(self.settled, self.generations + 1)
        for j, weight in enumerate(self.weights):
            options = {"real_weight": weight, "real_rows": self.n, "variance": 1.0}
            chains = run_chains(
                params,
                "collapse_guard.theory:FreshRealWeightedMean",
                options,
                FreshRealPlusNewest(self.n),
                seeds,
                self.generations,
                self.m,
                real_for,
            )
            variances[:, j] = [np.mean([np.mean(c[g].mean ** 2) for g in rounds]) for c in chains]
        return variances

    def summarise(self, values: np.ndarray, seeds: list[int], cpu_seconds: float) -> TheoryCheck:
        best = self.minimum(values.mean(axis=0))
        rng = np.random.default_rng(0)
        resampled = [self.minimum(values[rng.integers(0, len(values), len(values))].mean(axis=0)) for _ in range(400)]
        low, high = (float(q) for q in np.quantile(resampled, [0.005, 0.995]))
        k = self.n / self.m
        w_star = theory.golden_ratio_weight(k)
        pooled = self.n / (self.n + self.m)
        return TheoryCheck(
            name=self.name,
            reference="He et al. 2025",
            formula="w* = (√(k²+4k) − k)/2, k = n/m",
            sizes=f"n={self.n} fresh real, m={self.m} synthetic (k={k:g}), w in {self.weights[0]}..{self.weights[-1]}",
            closed_form=w_star,
            measured=best,
            low=low,
            high=high,
            **self.effort(seeds, cpu_seconds, self.dims, arms=len(self.weights)),
            note=f"minimum of a cubic through the variances measured at {len(self.weights)} weights (99 % bootstrap "
            f"interval over chains); V(w*) = {theory.weighted_fresh_variance(w_star, self.n, self.m):.5f}, "
            f"unweighted pooling (w = {pooled:.2f}) {theory.weighted_fresh_variance(pooled, self.n, self.m):.5f}",
        )

    def minimum(self, variances: np.ndarray) -> float:
        grid = np.linspace(self.weights[0], self.weights[-1], 20_001)
        return float(grid[np.polyval(np.polyfit(self.weights, variances, 3), grid).argmin()])


def _span(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}"


SETTINGS: tuple[Setting, ...] = (
    GaussianMLEVariance(),
    Regression("replace"),
    Regression("accumulate"),
    AnchoredMean(),
    CategoricalCollision(),
    GoldenRatio(),
)
CHECK_NAMES: tuple[str, ...] = tuple(setting.name for setting in SETTINGS)
CHUNK = 20  # chains per job: small enough that two processes stay busy until the end


def _measure(name: str, params: Params, seeds: list[int]) -> tuple[np.ndarray, float]:
    started = time.process_time()
    values = _setting(name).measure(params, seeds)
    return values, time.process_time() - started


def _setting(name: str) -> Setting:
    return next(setting for setting in SETTINGS if setting.name == name)


@dataclass
class TheoryReport:
    checks: list[TheoryCheck] = field(default_factory=list)
    wall_seconds: float = 0.0
    workers: int = 1

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": sum(c.cpu_seconds for c in self.checks),
            "workers": self.workers,
            "checks": [c.to_dict() for c in self.checks],
        }


def reproduce(params: Params, scale: float = 1.0, workers: int = 1, names: list[str] | None = None) -> TheoryReport:
    """Run the checks (``names``: all), their chains split into jobs of ``CHUNK`` seeds run ``workers`` at a time
    in separate processes (the chains are CPU-bound Python: threads would wait on each other)."""
    started = time.perf_counter()
    settings = [_setting(name) for name in (names or CHECK_NAMES)]
    sizes = Sizes(scale)
    jobs = [
        (setting.name, seeds[i : i + CHUNK])
        for setting in settings
        for seeds in [setting.seeds(sizes)]
        for i in range(0, len(seeds), CHUNK)
    ]
    if workers <= 1:
        done = [_measure(name, params, seeds) for name, seeds in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(_measure, *zip(*[(name, params, seeds) for name, seeds in jobs], strict=True)))
    checks = []
    for setting in settings:
        parts = [(values, cpu) for (name, _), (values, cpu) in zip(jobs, done, strict=True) if name == setting.name]
        values = np.vstack([values for values, _ in parts])
        checks.append(setting.summarise(values, setting.seeds(sizes), sum(cpu for _, cpu in parts)))
    return TheoryReport(checks, time.perf_counter() - started, workers)


SHARED_ANCHOR_NOTE = (
    "Each chain drew its own real sample and sampled at temperature 1. Chains sharing one anchor (what "
    "`experiment` runs) share one generation-0 fit: its error is one draw for all of them, which more seeds do "
    "not average and the seeds' standard error does not see; with the same seeds every run repeats the same "
    "draw. That is why the regression read 7-14 % below the formula on one anchor at d = 5, T = 50 "
    "(docs/safe-real-fraction.md); `experiment.decoding` (temperature 0.9 by default) biases every formula too."
)


def describe(report: TheoryReport) -> list[str]:
    """The report as the terminal shows it: per closed form, the formula, the measurement and its provenance."""
    import os

    lines = []
    for check in report.checks:
        mark = "ok" if check.passed else "FAILED"
        lines += [
            f"{check.name}  [{check.reference}]  {mark}",
            f"  {check.formula}   at {check.sizes}",
            f"  closed form {check.closed_form:.5f}   measured {check.measured:.5f}   error "
            f"{100 * check.relative_error:+.2f} %   99 % interval [{check.low:.5f}, {check.high:.5f}]",
            f"  seeds {check.seeds}: {check.chains} chains carrying {check.problems:,} independent problems, "
            f"{check.fits:,} model fits, {check.cpu_seconds:.1f} s CPU",
        ]
        if check.note:
            lines.append(f"  {check.note}")
    passed = sum(check.passed for check in report.checks)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [
        "",
        f"{passed}/{len(report.checks)} within {TOLERANCE:.0%} or their 99 % Monte-Carlo interval; "
        f"{sum(c.cpu_seconds for c in report.checks):.0f} s CPU, {report.wall_seconds:.0f} s wall on "
        f"{report.workers} process(es), load average {load}",
        SHARED_ANCHOR_NOTE,
    ]
    return lines
