"""Closed forms of model collapse, and the small generators they hold for.

A user can reproduce every number of ``collapse-guard experiment --theory`` from this module: the
generators plug into the product like any model (``model.class: collapse_guard.theory:GaussianGenerator``),
the formulas are plain functions, and ``collapse_guard.pipeline.theory_checks`` runs each setting through the
product's own chain (curation, mixing, seed schedule, evaluation) and compares.

Each generator table may hold many independent problems side by side (one per column, or one per block of
columns): the product then runs one chain where the theory needs hundreds, so a formula is checked to 1 %
in seconds instead of hours.

Gaussian (Shumailov et al. 2024, section 4.2; Alemohammad et al. 2023): fit mean and per-feature
variance from M samples, sample M new ones, refit, and so on (``replace``).
  - MLE variance (divide by M): E[σ²ₙ] = ((M−1)/M)ⁿ σ₀² after n fits.
  - Unbiased variance (divide by M−1): E[σ²ₙ] = σ₀², yet E[log σ²ₙ] = n·(ψ((M−1)/2) + log(2/(M−1)))
    + log σ₀² falls, and so does the median: collapse in probability with a constant mean.
  - Sampling bias λ (``decoding.temperature`` scales the sampled variance): E[σ²ₙ] = λⁿ σ₀² with the
    unbiased estimator, n being the number of sampling steps.

Linear regression (Gerstgrasser et al. 2024, theorems 1 and 2): Gaussian design x ~ N(0, I_d), T
samples per generation, labels of generation g+1 = model g's predictions + fresh N(0, σ²) noise.
Excess test error ‖ŵₙ − w*‖² of the n-th model (the first is fitted on the T real samples):
  - ``replace``: n·σ²d / (T−d−1)          (grows linearly)
  - ``accumulate``: at most σ²d / (T−d−1) · Σᵢ₌₁ⁿ 1/i²   (bounded by π²/6 times the first model's error)
Both follow from ŵₙ = ŵₙ₋₁ + Sₙ⁻¹Xₙᵀεₙ with Sₙ the Gram matrix the n-th model is fitted on: Xₙᵀ Xₙ under
``replace``, Σᵢ≤ₙ XᵢᵀXᵢ (Wishart with nT degrees of freedom) under ``accumulate``. The accumulate sum is the
paper's upper bound; the exact expectation for a Gaussian design is σ² Σᵢ₌₁ⁿ d / (i(iT−d−1))
(``accumulate_error_exact``), a few percent lower.

A fixed real anchor (the setting of Bertrand et al. 2024: every round trains on the same N real records
plus λN fresh samples of the current model). For the mean of a Gaussian with known variance σ² the
estimate's distance to the real-data fit follows eₜ₊₁ = a(eₜ + z̄ₜ), a = λ/(1+λ), z̄ₜ the mean of λN fresh
N(0, σ²) draws, so N·E[eₜ²]/σ² = λ/(1+2λ) · (1 − a²ᵗ): bounded for every λ, no collapse
(``anchored_mean_error``; derived here for this setting, the paper proves stability in general).

A categorical model refit on its own samples (Seddik et al. 2024, the fully synthetic case): with n
samples per generation and S = Σⱼ pⱼ² the collision probability (two draws agree),
E[S_m] = 1 − (1 − 1/n)^m (1 − S_0), since E[Σ p̂ⱼ² | p] = S + (1 − S)/n: every distribution drifts to a
point mass (``collision_probability``).

Fresh real data with a weight (He et al. 2025): each round fits w · (mean of n fresh real records)
+ (1 − w) · (mean of m samples of the previous model). The stationary variance is
V(w) = σ²(w²/n + (1−w)²/m) / (1 − (1−w)²) (``weighted_fresh_variance``), smallest at
w* = (√(k²+4k) − k)/2 with k = n/m (``golden_ratio_weight``): 1/φ ≈ 0.618 at equal sizes.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams
from collapse_guard.generator import Generator
from collapse_guard.records import atomic

# ---------------------------------------------------------------------------------------------- closed forms


def mle_variance_decay(n: int, m: int) -> float:
    """E[σ²ₙ] / σ²₀ with the MLE variance and M samples per generation: ((M−1)/M)ⁿ."""
    return ((m - 1) / m) ** n


def unbiased_log_variance_drift(n: int, m: int) -> float:
    """E[log σ²ₙ − log σ²₀] with the unbiased variance: n·(ψ((M−1)/2) + log(2/(M−1))) < 0, since each fit
    multiplies the variance by χ²_{M−1}/(M−1)."""
    from scipy.special import digamma

    return n * (float(digamma((m - 1) / 2)) + math.log(2 / (m - 1)))


def replace_error(n: int, noise_var: float, d: int, t: int) -> float:
    """Expected excess test error of the n-th model under ``replace``: n·σ²d/(T−d−1) (exact)."""
    return n * noise_var * d / (t - d - 1)


def accumulate_error(n: int, noise_var: float, d: int, t: int) -> float:
    """Gerstgrasser et al.'s bound under ``accumulate``: σ²d/(T−d−1)·Σᵢ₌₁ⁿ 1/i² (< π²/6 · σ²d/(T−d−1))."""
    return noise_var * d / (t - d - 1) * sum(1.0 / i**2 for i in range(1, n + 1))


def accumulate_error_exact(n: int, noise_var: float, d: int, t: int) -> float:
    """Exact expectation under ``accumulate`` for x ~ N(0, I_d): σ² Σᵢ₌₁ⁿ d / (i(iT−d−1)).

    The i-th model adds Sᵢ⁻¹Xᵢᵀεᵢ, of expected squared norm σ² E tr(Sᵢ⁻²XᵢᵀXᵢ) = σ² E tr(Sᵢ⁻¹)/i (the i
    batches are exchangeable) = σ²d / (i(iT−d−1)) (inverse-Wishart mean). At most the bound above."""
    return noise_var * sum(d / (i * (i * t - d - 1)) for i in range(1, n + 1))


def anchored_mean_error(rounds: int, synthetic_ratio: float) -> float:
    """N·E[(μ̂ₜ − x̄)²]/σ² after ``rounds`` rounds on a fixed anchor of N real records (mean x̄) plus
    λN = ``synthetic_ratio``·N fresh samples of the current model: λ/(1+2λ)·(1 − a²ᵗ), a = λ/(1+λ).
    The limit λ/(1+2λ) stays below 1/2 whatever λ: the anchor keeps the model from collapsing."""
    lam = synthetic_ratio
    a = lam / (1 + lam)
    return lam / (1 + 2 * lam) * (1 - a ** (2 * rounds))


def collision_probability(m: int, n: int, s0: float) -> float:
    """E[S_m] for a categorical model refit m times on n of its own samples, S = Σⱼ pⱼ² (Seddik et al. 2024):
    1 − (1 − 1/n)^m (1 − S_0). It tends to 1: the model ends on a single token."""
    return 1 - (1 - 1 / n) ** m * (1 - s0)


def weighted_fresh_variance(w: float, n: int, m: int, variance: float = 1.0) -> float:
    """Stationary variance of w · (mean of n fresh real records) + (1 − w) · (mean of m samples of the last
    model) (He et al. 2025's Gaussian mean setting): σ²(w²/n + (1−w)²/m) / (1 − (1−w)²)."""
    return variance * (w**2 / n + (1 - w) ** 2 / m) / (1 - (1 - w) ** 2)


def weighted_fresh_variance_after(rounds: int, w: float, n: int, m: int, variance: float = 1.0) -> float:
    """The same variance after ``rounds`` weighted rounds from a first fit on n real records: the
    recursion Vₜ = (1−w)²Vₜ₋₁ + σ²(w²/n + (1−w)²/m) from V₀ = σ²/n."""
    limit = weighted_fresh_variance(w, n, m, variance)
    return limit + (1 - w) ** (2 * rounds) * (variance / n - limit)


def golden_ratio_weight(k: float) -> float:
    """The real-data weight that minimises ``weighted_fresh_variance``, k = n/m (real per synthetic record):
    (√(k²+4k) − k)/2 (He et al. 2025); 1/φ = 0.618... at k = 1."""
    return (math.sqrt(k * k + 4 * k) - k) / 2


# ------------------------------------------------------------------------------------------------ generators


class GaussianGenerator(Generator):
    """A Gaussian with independent features; ``estimator`` is "mle" or "unbiased". With ``variance`` given,
    only the mean is fitted and every feature is sampled with that known variance (the anchored setting)."""

    def __init__(self, estimator: str = "mle", variance: float | None = None) -> None:
        if estimator not in ("mle", "unbiased"):
            raise ValueError("estimator must be 'mle' or 'unbiased'")
        self.estimator = estimator
        self.known_variance = variance
        self.columns: list[str] = []
        self.mean = np.zeros(0)
        self.variance = np.zeros(0)

    @property
    def options(self) -> dict:
        return {"estimator": self.estimator, "variance": self.known_variance}

    def fit(self, features: pd.DataFrame, seed: int) -> None:
        values = features.to_numpy(dtype=np.float64)
        self.columns = list(features.columns)
        self.mean = values.mean(axis=0)
        if self.known_variance is not None:
            self.variance = np.full(values.shape[1], float(self.known_variance))
        else:
            self.variance = values.var(axis=0, ddof=0 if self.estimator == "mle" else 1)

    def sample(self, n: int, decoding: DecodingParams, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        sd = np.sqrt(self.variance * decoding.temperature)
        return pd.DataFrame(self.mean + sd * rng.standard_normal((n, len(self.columns))), columns=self.columns)

    def loss(self, features: pd.DataFrame) -> float:
        z2 = (features[self.columns].to_numpy(dtype=np.float64) - self.mean) ** 2 / self.variance
        return float(0.5 * (z2 + np.log(2 * math.pi * self.variance)).sum(axis=1).mean())

    def diagnostics(self) -> dict[str, float]:
        return {
            "fitted_variance": float(self.variance.mean()),
            "fitted_log_variance": float(np.log(self.variance).mean()),
        }

    def save(self, path: Path) -> None:
        state = {**self.options, "columns": self.columns, "mean": self.mean.tolist(), "fitted": self.variance.tolist()}
        atomic.write_json(Path(path), state)

    @classmethod
    def load(cls, path: Path) -> GaussianGenerator:
        state = json.loads(Path(path).read_text())
        model = cls(state["estimator"], state.get("variance"))
        model.columns, model.mean, model.variance = (
            state["columns"],
            np.array(state["mean"]),
            np.array(state["fitted"]),
        )
        return model


class FreshRealWeightedMean(GaussianGenerator):
    """He et al. 2025's weighted estimator of a Gaussian mean (known variance): w · mean of the first
    ``real_rows`` records + (1 − w) · mean of the rest. The mixing policy that feeds it puts the round's fresh
    real records first (collapse_guard.pipeline.theory_checks.FreshRealPlusNewest); a table of only real
    records (the first round) is fitted by its plain mean."""

    def __init__(self, real_weight: float = 0.618, real_rows: int = 1, variance: float = 1.0) -> None:
        super().__init__("mle", variance)
        if not 0 < real_weight <= 1:
            raise ValueError("real_weight must be in (0, 1]")
        self.real_weight, self.real_rows = real_weight, real_rows

    @property
    def options(self) -> dict:
        return {"real_weight": self.real_weight, "real_rows": self.real_rows, "variance": self.known_variance}

    def fit(self, features: pd.DataFrame, seed: int) -> None:
        super().fit(features, seed)
        if len(features) > self.real_rows:
            values = features.to_numpy(dtype=np.float64)
            real, synthetic = values[: self.real_rows].mean(axis=0), values[self.real_rows :].mean(axis=0)
            self.mean = self.real_weight * real + (1 - self.real_weight) * synthetic

    def save(self, path: Path) -> None:
        atomic.write_json(Path(path), {**self.options, "columns": self.columns, "mean": self.mean.tolist()})

    @classmethod
    def load(cls, path: Path) -> FreshRealWeightedMean:
        state = json.loads(Path(path).read_text())
        model = cls(state["real_weight"], state["real_rows"], state["variance"])
        model.columns, model.mean = state["columns"], np.array(state["mean"])
        model.variance = np.full(len(model.columns), float(model.known_variance))
        return model


_BLOCK = re.compile(r"^(?P<block>.*?)(?:x(?P<index>\d+)|y)$")


def regression_blocks(columns: list[str]) -> list[tuple[list[int], int]]:
    """The regression problems a table holds: per block (column prefix, e.g. ``b3_``; none for a single
    problem), the positions of its inputs ``<prefix>x<i>`` and of its target ``<prefix>y``."""
    blocks: dict[str, dict] = {}
    for position, name in enumerate(columns):
        match = _BLOCK.match(name)
        if match is None:
            raise ValueError(f"column {name!r} is neither an input '<prefix>x<i>' nor a target '<prefix>y'")
        block = blocks.setdefault(match["block"], {"x": [], "y": None})
        if match["index"] is None:
            block["y"] = position
        else:
            block["x"].append(position)
    if any(b["y"] is None or not b["x"] for b in blocks.values()):
        raise ValueError("every regression block needs inputs <prefix>x<i> and a target <prefix>y")
    return [(b["x"], b["y"]) for b in blocks.values()]


class LinearRegressionGenerator(Generator):
    """y = x·w + noise; fits w by least squares (no intercept), one independent problem per column block
    (``x0..x{d-1}, y``, or ``b0_x0.., b0_y, b1_x0.., b1_y, ...``: ``regression_data``).

    ``sample(n)`` draws a fresh design x ~ N(0, I_d) per block and labels y = x·ŵ + ε, ε ~ N(0, σ²·temperature)
    with σ = ``noise_sd``. ``loss`` is the mean squared error on the given records (summed over blocks); the
    theory is about ``excess_test_error`` (a diagnostic when ``true_weights`` is given: its mean over blocks).
    """

    def __init__(self, noise_sd: float = 1.0, true_weights: list[float] | None = None) -> None:
        self.noise_sd = noise_sd
        self.true_weights = None if true_weights is None else np.asarray(true_weights, dtype=np.float64)
        self.columns: list[str] = []
        self.blocks: list[tuple[list[int], int]] = []
        self.weights = np.zeros((0, 0))  # blocks × d

    @property
    def options(self) -> dict:
        weights = None if self.true_weights is None else self.true_weights.tolist()
        return {"noise_sd": self.noise_sd, "true_weights": weights}

    def fit(self, features: pd.DataFrame, seed: int) -> None:
        self.columns = list(features.columns)
        self.blocks = regression_blocks(self.columns)
        values = features.to_numpy(dtype=np.float64)  # positional slicing: pandas indexing dominates small fits
        self.weights = np.array([np.linalg.lstsq(values[:, x], values[:, y], rcond=None)[0] for x, y in self.blocks])

    def sample(self, n: int, decoding: DecodingParams, seed: int) -> pd.DataFrame:
        """Fresh Gaussian design, labels from this model's predictions plus fresh noise, block by block."""
        rng = np.random.default_rng(seed)
        out = np.empty((n, len(self.columns)))
        sd = self.noise_sd * math.sqrt(decoding.temperature)
        for (x, y), weights in zip(self.blocks, self.weights, strict=True):
            design = rng.standard_normal((n, len(x)))
            out[:, x] = design
            out[:, y] = design @ weights + sd * rng.standard_normal(n)
        return pd.DataFrame(out, columns=self.columns)

    def loss(self, features: pd.DataFrame) -> float:
        values = features[self.columns].to_numpy(dtype=np.float64)
        errors = [values[:, y] - values[:, x] @ w for (x, y), w in zip(self.blocks, self.weights, strict=True)]
        return float(np.mean(np.sum(np.square(errors), axis=0)))

    def diagnostics(self) -> dict[str, float]:
        if self.true_weights is None:
            return {}
        # for an isotropic design this is the expected excess test error of the model
        return {"excess_test_error": float(((self.weights - self.true_weights) ** 2).sum(axis=1).mean())}

    def save(self, path: Path) -> None:
        atomic.write_json(Path(path), {**self.options, "columns": self.columns, "weights": self.weights.tolist()})

    @classmethod
    def load(cls, path: Path) -> LinearRegressionGenerator:
        state = json.loads(Path(path).read_text())
        model = cls(state["noise_sd"], state["true_weights"])
        model.columns, model.weights = state["columns"], np.array(state["weights"], dtype=np.float64)
        model.blocks = regression_blocks(model.columns)
        return model


def excess_test_error(model: LinearRegressionGenerator, true_w: np.ndarray | list[float]) -> float:
    """‖ŵ − w*‖² (mean over the table's blocks): for an isotropic design x ~ N(0, I) this is E_x[(xᵀŵ − xᵀw*)²],
    the model's expected test error in excess of the noise (Gerstgrasser et al. 2024, theorems 1 and 2)."""
    return float(((model.weights - np.asarray(true_w, dtype=np.float64)) ** 2).sum(axis=1).mean())


class CategoricalGenerator(Generator):
    """Independent categorical columns, each fitted by its empirical frequencies and sampled from them (the
    next-token model of Seddik et al. 2024, one context per column). ``collision_probability`` is the mean
    over columns of S = Σⱼ pⱼ².

    Numeric columns are not modelled: they are sampled afresh as standard normal values. The tabular metrics
    measure tails and spread in a geometry, which a table of categories alone does not have; one such column
    (``categorical_data`` adds ``u``) gives them one without touching the categories."""

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.categorical: list[str] = []
        self.levels: list[np.ndarray] = []
        self.probabilities: list[np.ndarray] = []

    def fit(self, features: pd.DataFrame, seed: int) -> None:
        self.columns = list(features.columns)
        self.categorical = [c for c in self.columns if not pd.api.types.is_numeric_dtype(features[c])]
        self.levels, self.probabilities = [], []
        for column in self.categorical:
            levels, counts = np.unique(features[column].astype(str).to_numpy(), return_counts=True)
            self.levels.append(levels)
            self.probabilities.append(counts / counts.sum())

    def sample(self, n: int, decoding: DecodingParams, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        drawn = {column: rng.standard_normal(n) for column in self.columns if column not in self.categorical}
        for column, levels, p in zip(self.categorical, self.levels, self.probabilities, strict=True):
            drawn[column] = levels[rng.choice(len(levels), size=n, p=p)]
        return pd.DataFrame(drawn, columns=self.columns)

    def loss(self, features: pd.DataFrame) -> float:
        """Mean negative log-likelihood per record, summed over the categorical columns; an unseen level costs
        log(1e12)."""
        total = np.zeros(len(features))
        for column, levels, p in zip(self.categorical, self.levels, self.probabilities, strict=True):
            lookup = dict(zip(levels.tolist(), p.tolist(), strict=True))
            probability = features[column].astype(str).map(lookup).fillna(1e-12).to_numpy(dtype=np.float64)
            total -= np.log(np.maximum(probability, 1e-12))
        return float(total.mean())

    def collisions(self) -> np.ndarray:
        """S = Σⱼ pⱼ² of every categorical column."""
        return np.array([np.sum(p**2) for p in self.probabilities])

    def diagnostics(self) -> dict[str, float]:
        return {"collision_probability": float(self.collisions().mean())} if self.probabilities else {}

    def save(self, path: Path) -> None:
        state = {
            "columns": self.columns,
            "categorical": self.categorical,
            "levels": [levels.tolist() for levels in self.levels],
            "probabilities": [p.tolist() for p in self.probabilities],
        }
        atomic.write_json(Path(path), state)

    @classmethod
    def load(cls, path: Path) -> CategoricalGenerator:
        state = json.loads(Path(path).read_text())
        model = cls()
        model.columns, model.categorical = state["columns"], state["categorical"]
        model.levels = [np.array(levels, dtype=object).astype(str) for levels in state["levels"]]
        model.probabilities = [np.array(p, dtype=np.float64) for p in state["probabilities"]]
        return model


# ------------------------------------------------------------------------------------------------ real data


def gaussian_data(rows: int, dims: int, variance: float, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(0.0, math.sqrt(variance), size=(rows, dims)), columns=[f"x{i}" for i in range(dims)])


def regression_data(
    rows: int, weights: np.ndarray, noise_sd: float, rng: np.random.Generator, blocks: int = 1
) -> pd.DataFrame:
    """``blocks`` independent regression problems side by side (column names as ``regression_blocks`` reads)."""
    weights = np.asarray(weights, dtype=np.float64)
    frames = []
    for block in range(blocks):
        prefix = f"b{block}_" if blocks > 1 else ""
        x = rng.standard_normal((rows, len(weights)))
        frame = pd.DataFrame(x, columns=[f"{prefix}x{i}" for i in range(len(weights))])
        frame[f"{prefix}y"] = x @ weights + noise_sd * rng.standard_normal(rows)
        frames.append(frame)
    return pd.concat(frames, axis=1)


def categorical_data(rows: int, probabilities: np.ndarray, columns: int, rng: np.random.Generator) -> pd.DataFrame:
    """``columns`` independent categorical columns of levels ``t0``, ``t1``, ... drawn with ``probabilities``, and a
    standard normal column ``u`` (see ``CategoricalGenerator``)."""
    levels = np.array([f"t{i}" for i in range(len(probabilities))], dtype=object)
    drawn = {f"c{j}": levels[rng.choice(len(levels), size=rows, p=probabilities)] for j in range(columns)}
    return pd.DataFrame({"u": rng.standard_normal(rows), **drawn})
