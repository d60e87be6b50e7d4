"""Generators for which model collapse has closed forms, so the pipeline can be checked against theory.

Gaussian (Shumailov et al. 2024, section 4.2; Alemohammad et al. 2023): fit mean and per-feature
variance from M samples, sample M new ones, refit, and so on (``replace``).
  - MLE variance (divide by M): E[σ²ₙ] = ((M−1)/M)ⁿ σ₀² after n fits.
  - Unbiased variance (divide by M−1): E[σ²ₙ] = σ₀², yet E[log σ²ₙ] = n·(ψ((M−1)/2) + log(2/(M−1)))
    + log σ₀² falls, and so does the median: collapse in probability with a constant mean.
  - Sampling bias λ (``decoding.temperature`` scales the sampled variance): E[σ²ₙ] = λⁿ σ₀² with the
    unbiased estimator, n being the number of sampling steps.

Linear regression (Gerstgrasser et al. 2024, theorem 1 and 2): Gaussian design x ~ N(0, I_d), T
samples per generation, labels of generation g+1 = model g's predictions + fresh N(0, σ²) noise.
Excess test error ‖ŵₙ − w*‖² of the n-th model:
  - ``replace``: n·σ²d / (T−d−1)          (grows linearly)
  - ``accumulate``: at most σ²d / (T−d−1) · Σᵢ₌₁ⁿ 1/i²   (bounded by π²/6 times the first model's error)
The first model (n = 1) is the one fitted on the T real samples. Both follow from ŵₙ = ŵₙ₋₁ + Sₙ⁻¹Xₙᵀεₙ
with Sₙ the design Gram matrix the n-th model is fitted on: Xₙᵀ Xₙ under ``replace``, Σᵢ≤ₙ XᵢᵀXᵢ (Wishart
with nT degrees of freedom) under ``accumulate``. The accumulate sum is the paper's upper bound; the
exact expectation for a Gaussian design is σ² Σᵢ₌₁ⁿ d / (i(iT−d−1)) (``accumulate_error_exact``), a few
percent lower.

``run_chain`` runs a recursive chain in memory with no orchestration (for tests and quick studies); the
product runs the same generators through its Prefect flows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams
from collapse_guard.generator import Generator
from collapse_guard.records import atomic


class GaussianGenerator(Generator):
    """A Gaussian with independent features; ``estimator`` is "mle" or "unbiased"."""

    def __init__(self, estimator: str = "mle") -> None:
        if estimator not in ("mle", "unbiased"):
            raise ValueError("estimator must be 'mle' or 'unbiased'")
        self.estimator = estimator
        self.columns: list[str] = []
        self.mean = np.zeros(0)
        self.variance = np.zeros(0)

    @property
    def options(self) -> dict:
        return {"estimator": self.estimator}

    def fit(self, features: pd.DataFrame, seed: int) -> None:
        values = features.to_numpy(dtype=np.float64)
        self.columns = list(features.columns)
        self.mean = values.mean(axis=0)
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
        state = {
            "estimator": self.estimator,
            "columns": self.columns,
            "mean": self.mean.tolist(),
            "variance": self.variance.tolist(),
        }
        atomic.write_json(Path(path), state)

    @classmethod
    def load(cls, path: Path) -> GaussianGenerator:
        state = json.loads(Path(path).read_text())
        model = cls(state["estimator"])
        model.columns, model.mean, model.variance = (
            state["columns"],
            np.array(state["mean"]),
            np.array(state["variance"]),
        )
        return model


class LinearRegressionGenerator(Generator):
    """y = x·w + noise; fits w by least squares (no intercept) on columns x0..x{d-1} and target ``y``.

    ``sample(n)`` draws a fresh design x ~ N(0, I_d) and labels y = x·ŵ + ε, ε ~ N(0, σ²·temperature) with
    σ = ``noise_sd``. ``loss`` is the mean squared error on the given records; the theory is about
    ``excess_test_error`` (logged as a diagnostic when ``true_weights`` is given).
    """

    def __init__(self, noise_sd: float = 1.0, true_weights: list[float] | None = None) -> None:
        self.noise_sd = noise_sd
        self.true_weights = None if true_weights is None else np.asarray(true_weights, dtype=np.float64)
        self.columns: list[str] = []
        self.weights = np.zeros(0)

    @property
    def options(self) -> dict:
        weights = None if self.true_weights is None else self.true_weights.tolist()
        return {"noise_sd": self.noise_sd, "true_weights": weights}

    def _design(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        values = features.to_numpy(dtype=np.float64)  # positional slicing: pandas indexing dominates small fits
        target = features.columns.get_loc("y")
        return np.delete(values, target, axis=1), values[:, target]

    def fit(self, features: pd.DataFrame, seed: int) -> None:
        self.columns = list(features.columns)
        x, y = self._design(features)
        self.weights = np.linalg.lstsq(x, y, rcond=None)[0]

    def sample(self, n: int, decoding: DecodingParams, seed: int) -> pd.DataFrame:
        """Fresh Gaussian design, labels from this model's predictions plus fresh noise."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, len(self.weights)))
        y = x @ self.weights + self.noise_sd * math.sqrt(decoding.temperature) * rng.standard_normal(n)
        target = self.columns.index("y")
        return pd.DataFrame(np.insert(x, target, y, axis=1), columns=self.columns)

    def loss(self, features: pd.DataFrame) -> float:
        x, y = self._design(features[self.columns])
        return float(np.mean((y - x @ self.weights) ** 2))

    def diagnostics(self) -> dict[str, float]:
        if self.true_weights is None:
            return {}
        # for an isotropic design this is the expected excess test error of the model
        return {"excess_test_error": float(((self.weights - self.true_weights) ** 2).sum())}

    def save(self, path: Path) -> None:
        atomic.write_json(Path(path), {**self.options, "columns": self.columns, "weights": self.weights.tolist()})

    @classmethod
    def load(cls, path: Path) -> LinearRegressionGenerator:
        state = json.loads(Path(path).read_text())
        model = cls(state["noise_sd"], state["true_weights"])
        model.columns, model.weights = state["columns"], np.array(state["weights"])
        return model


def excess_test_error(model: LinearRegressionGenerator, true_w: np.ndarray | list[float]) -> float:
    """‖ŵ − w*‖²: for an isotropic design x ~ N(0, I) this is E_x[(xᵀŵ − xᵀw*)²], the model's expected
    test error in excess of the noise (the quantity of Gerstgrasser et al. 2024, theorems 1 and 2)."""
    return float(((model.weights - np.asarray(true_w, dtype=np.float64)) ** 2).sum())


def run_chain(
    generator_factory: Callable[[], Generator],
    real_data: pd.DataFrame,
    generations: int,
    policy: Literal["replace", "accumulate"],
    samples_per_generation: int,
    seed: int,
    decoding: DecodingParams | None = None,
) -> list[Generator]:
    """Recursive training without orchestration: the fitted model of every generation, index = generation.

    Generation 0 is fitted on ``real_data``. Generation g ≥ 1 is fitted on ``samples_per_generation``
    fresh samples of generation g−1 (``replace``) or on the real data plus every synthetic batch drawn so
    far (``accumulate``). Fit and sample seeds are drawn from ``np.random.SeedSequence(seed)``, so one
    ``seed`` fixes the whole chain.
    """
    if policy not in ("replace", "accumulate"):
        raise ValueError("policy must be 'replace' or 'accumulate'")
    decoding = decoding or DecodingParams()
    seeds = np.random.SeedSequence(seed).generate_state(2 * generations + 1)
    model = generator_factory()
    model.fit(real_data, int(seeds[0]))
    models, batches = [model], [real_data]
    for generation in range(1, generations + 1):
        synthetic = models[-1].sample(samples_per_generation, decoding, int(seeds[2 * generation - 1]))
        batches = [*batches, synthetic] if policy == "accumulate" else [synthetic]
        model = generator_factory()
        model.fit(pd.concat(batches, ignore_index=True), int(seeds[2 * generation]))
        models.append(model)
    return models


def gaussian_data(rows: int, dims: int, variance: float, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(0.0, math.sqrt(variance), size=(rows, dims)), columns=[f"x{i}" for i in range(dims)])


def regression_data(rows: int, weights: np.ndarray, noise_sd: float, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.standard_normal((rows, len(weights)))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(len(weights))])
    frame["y"] = x @ weights + noise_sd * rng.standard_normal(rows)
    return frame


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
