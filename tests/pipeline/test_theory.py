"""The theory generators must land on the closed forms of model collapse.

Two layers. First the generators alone, through ``run_chain`` (no orchestration, seconds): thousands of
independent chains, so the standard errors are a percent or two of the effects. Then the experiment
flow (marked ``e2e``, Prefect server, about two minutes): every chain of an experiment starts from the
same real sample, so generation 0 is one shared fit and the formulas hold conditionally on it.

Each assertion allows four standard errors of the mean over chains, and first checks that the standard
error is small against the effect, so a wrong formula (a missing (M−1)/M factor, an off-by-one power,
linear growth instead of a bounded sum) fails.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import digamma

from collapse_guard.config import DecodingParams
from collapse_guard.modality.registry import load_params
from collapse_guard.pipeline.setup import initialise
from collapse_guard.theory import (
    GaussianGenerator,
    LinearRegressionGenerator,
    accumulate_error,
    accumulate_error_exact,
    excess_test_error,
    gaussian_data,
    mle_variance_decay,
    regression_data,
    replace_error,
    unbiased_log_variance_drift,
)
from tests.conftest import write_params
from tests.theory import run_chain

THEORY = "collapse_guard.theory"


def e2e(test):
    """Runs the real experiment flow: needs the session's Prefect server."""
    return pytest.mark.e2e(pytest.mark.usefixtures("prefect_server")(test))


def run_experiment(
    workspace, data: pd.DataFrame, model: str, options: dict, *, policies, seeds, generations, rows, temperature=1.0
) -> pd.DataFrame:
    from prefect.task_runners import ThreadPoolTaskRunner

    from collapse_guard.flows.experiment import collapse_experiment

    data.to_parquet(workspace / "real.parquet", index=False)
    write_params(
        workspace,
        data={"source": "real.parquet", "holdout_fraction": 0.2},
        model={"class": f"{THEORY}:{model}", "options": options},
        tabular={"near_copy_radius": 0.0},
        evaluation={"sample_size": 100, "distribution_metrics": False},
        experiment={
            "policies": policies,
            "seeds": seeds,
            "generations": generations,
            "anchor_rows": rows,
            "synthetic_per_generation": rows,
            "decoding": {"temperature": temperature},
        },
    )
    params = load_params(workspace / "params.yaml")
    initialise(params)
    collapse_experiment.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))(params, sweep=False)
    return pd.read_parquet(params.resolve(params.experiment.output_dir) / "results.parquet")


def assert_mean_matches(values: pd.Series, expected: float, effect: float, wrong: float | None = None) -> None:
    """Within 4 standard errors of ``expected``, and (when given) more than 4 away from a ``wrong`` formula."""
    mean, se = values.mean(), values.std(ddof=1) / math.sqrt(len(values))
    assert se < effect / 4, f"too noisy to tell: se {se:.4f} against an effect of {effect:.4f}"
    assert abs(mean - expected) < 4 * se, f"mean {mean:.4f} ± {se:.4f}, theory {expected:.4f}"
    if wrong is not None:
        assert abs(mean - wrong) > 4 * se, f"cannot tell the theory {expected:.4f} from {wrong:.4f}"


# ------------------------------------------------------------------------ the generators alone (fast)

# M samples per generation; every feature of a diagonal Gaussian is an independent chain, so
# CHAIN_SEEDS × CHAIN_DIMS chains per setting
CHAIN_M, CHAIN_DIMS, CHAIN_SEEDS, CHAIN_GENERATIONS = 10, 1000, 60, 5


def variance_ratios(estimator: str, temperature: float = 1.0) -> np.ndarray:
    """σ²_g / σ²₀ per chain (rows) and generation g = 0..CHAIN_GENERATIONS (columns), under ``replace``."""
    ratios = []
    for seed in range(CHAIN_SEEDS):
        real = gaussian_data(CHAIN_M, CHAIN_DIMS, 2.0, np.random.default_rng(seed))
        models = run_chain(
            lambda: GaussianGenerator(estimator),
            real,
            CHAIN_GENERATIONS,
            "replace",
            CHAIN_M,
            seed=seed,
            decoding=DecodingParams(temperature=temperature),
        )
        variances = np.array([model.variance for model in models])  # generations × features
        ratios.append((variances / variances[0]).T)
    return np.vstack(ratios)


def assert_array_mean_matches(values: np.ndarray, expected: float, effect: float, wrong: tuple = ()) -> None:
    assert_mean_matches(pd.Series(values), expected, effect)
    for formula in wrong:
        assert_mean_matches(pd.Series(values), expected, effect, wrong=formula)


def test_chain_mle_variance_decays_by_m_minus_1_over_m_per_generation():
    ratios = variance_ratios("mle")
    assert ratios.shape == (CHAIN_SEEDS * CHAIN_DIMS, CHAIN_GENERATIONS + 1)
    for n in range(1, CHAIN_GENERATIONS + 1):
        decay = mle_variance_decay(n, CHAIN_M)
        # rejected: one power too many or too few, and the unbiased estimator's constant mean
        wrong = (mle_variance_decay(n + 1, CHAIN_M), mle_variance_decay(n - 1, CHAIN_M))
        assert_array_mean_matches(ratios[:, n], decay, effect=1 - decay, wrong=wrong)
        assert abs(ratios[:, n].mean() / decay - 1) < 0.05  # within a few percent


def test_chain_sampling_bias_lambda_decays_the_unbiased_variance_as_lambda_to_the_n():
    lam = 0.8
    ratios = variance_ratios("unbiased", temperature=lam)
    for n in range(1, CHAIN_GENERATIONS + 1):
        wrong = (lam ** (n + 1), (lam * (CHAIN_M - 1) / CHAIN_M) ** n)  # off by one; MLE factor on top
        assert_array_mean_matches(ratios[:, n], lam**n, effect=1 - lam**n, wrong=wrong)
        assert abs(ratios[:, n].mean() / lam**n - 1) < 0.05


def test_chain_unbiased_estimator_keeps_the_mean_while_the_median_and_log_variance_fall():
    ratios = variance_ratios("unbiased")
    last = CHAIN_GENERATIONS
    # the mean holds (and is told apart from the MLE's decay)...
    decay = mle_variance_decay(last, CHAIN_M)
    assert_array_mean_matches(ratios[:, last], 1.0, effect=1 - decay, wrong=(decay,))
    # ...while E[log σ²ₙ/σ²₀] = n(ψ((M−1)/2) + log(2/(M−1))) and the median fall, generation after generation
    for n in range(1, last + 1):
        drift = unbiased_log_variance_drift(n, CHAIN_M)
        assert_array_mean_matches(np.log(ratios[:, n]), drift, effect=abs(drift), wrong=(drift * (n + 1) / n,))
    medians = np.median(ratios, axis=0)
    assert np.all(np.diff(medians) < 0)
    assert medians[last] < 0.7  # exp(drift) ≈ 0.56: the typical chain has lost a third of its variance
    assert (ratios[:, last] < 1).mean() > 0.6


# linear regression: d inputs, T samples per generation, noise σ; the n-th model is generation n − 1
REG_D, REG_T, REG_NOISE, REG_CHAINS, REG_GENERATIONS = 4, 30, 1.0, 2500, 5


def regression_errors(policy: str) -> np.ndarray:
    """‖ŵ − w*‖² per chain (rows) and model n = 1..REG_GENERATIONS + 1 (columns)."""
    true_w = np.random.default_rng(123).standard_normal(REG_D)
    errors = np.empty((REG_CHAINS, REG_GENERATIONS + 1))
    for chain in range(REG_CHAINS):
        real = regression_data(REG_T, true_w, REG_NOISE, np.random.default_rng(chain))
        models = run_chain(
            lambda: LinearRegressionGenerator(noise_sd=REG_NOISE), real, REG_GENERATIONS, policy, REG_T, seed=chain
        )
        errors[chain] = [excess_test_error(model, true_w) for model in models]
    return errors


def test_chain_linear_regression_error_grows_linearly_under_replace():
    errors = regression_errors("replace")
    c = replace_error(1, REG_NOISE**2, REG_D, REG_T)  # σ²d/(T−d−1): one fit on T samples
    for n in range(1, REG_GENERATIONS + 2):
        expected = replace_error(n, REG_NOISE**2, REG_D, REG_T)
        wrong = (expected + c, expected - c, accumulate_error(n, REG_NOISE**2, REG_D, REG_T)) if n > 1 else ()
        assert_array_mean_matches(errors[:, n - 1], expected, effect=c, wrong=wrong)
    # a straight line through the origin: slope c
    means = errors.mean(axis=0)
    slope = np.polyfit(np.arange(1, REG_GENERATIONS + 2), means, 1)[0]
    assert slope == pytest.approx(c, rel=0.05)


def test_chain_linear_regression_error_stays_bounded_under_accumulate():
    errors = regression_errors("accumulate")
    c = replace_error(1, REG_NOISE**2, REG_D, REG_T)
    for n in range(1, REG_GENERATIONS + 2):
        exact = accumulate_error_exact(n, REG_NOISE**2, REG_D, REG_T)
        bound = accumulate_error(n, REG_NOISE**2, REG_D, REG_T)  # Gerstgrasser et al.: c Σ 1/i²
        harmonic = c * sum(1 / i for i in range(1, n + 1))
        wrong = (replace_error(n, REG_NOISE**2, REG_D, REG_T), harmonic) if n > 1 else ()
        assert_array_mean_matches(errors[:, n - 1], exact, effect=c, wrong=wrong)
        mean, se = errors[:, n - 1].mean(), errors[:, n - 1].std(ddof=1) / math.sqrt(REG_CHAINS)
        assert mean < bound + 4 * se  # the paper's sum is an upper bound...
        assert mean == pytest.approx(bound, rel=0.1)  # ...and a close one
    means = errors.mean(axis=0)
    assert means.max() < math.pi**2 / 6 * c  # bounded by π²/6 times the first model's error
    steps = np.diff(means)  # the i-th model adds ≈ c / i²: the last step is a small fraction of the first
    assert steps[-1] < 0.25 * steps[0]


def test_run_chain_is_deterministic_and_accumulate_trains_on_everything_so_far():
    real = regression_data(REG_T, np.ones(REG_D), REG_NOISE, np.random.default_rng(0))
    first = run_chain(LinearRegressionGenerator, real, 3, "accumulate", 20, seed=5)
    again = run_chain(LinearRegressionGenerator, real, 3, "accumulate", 20, seed=5)
    assert len(first) == 4
    assert all(np.array_equal(a.weights, b.weights) for a, b in zip(first, again, strict=True))

    class Counting(GaussianGenerator):
        rows: list[int] = []

        def fit(self, features: pd.DataFrame, seed: int) -> None:
            Counting.rows.append(len(features))
            super().fit(features, seed)

    run_chain(Counting, gaussian_data(30, 2, 1.0, np.random.default_rng(0)), 3, "accumulate", 10, seed=0)
    assert Counting.rows == [30, 40, 50, 60]
    Counting.rows = []
    run_chain(Counting, gaussian_data(30, 2, 1.0, np.random.default_rng(0)), 3, "replace", 10, seed=0)
    assert Counting.rows == [30, 10, 10, 10]
    with pytest.raises(ValueError):
        run_chain(Counting, real, 1, "mix", 10, seed=0)


def test_theory_generators_round_trip_through_save_and_load(tmp_path):
    data = gaussian_data(50, 3, 1.0, np.random.default_rng(0))
    gaussian = GaussianGenerator("unbiased")
    gaussian.fit(data, 0)
    gaussian.save(tmp_path / "g.json")
    loaded = GaussianGenerator.load(tmp_path / "g.json")
    assert loaded.options == gaussian.options and np.allclose(loaded.variance, gaussian.variance)
    assert loaded.loss(data) == pytest.approx(gaussian.loss(data))
    assert gaussian.sample(20, DecodingParams(), 1).equals(loaded.sample(20, DecodingParams(), 1))

    weights = [1.0, -2.0]
    real = regression_data(40, np.array(weights), 0.5, np.random.default_rng(1))
    regression = LinearRegressionGenerator(noise_sd=0.5, true_weights=weights)
    regression.fit(real, 0)
    regression.save(tmp_path / "r.json")
    again = LinearRegressionGenerator.load(tmp_path / "r.json")
    assert np.allclose(again.weights, regression.weights)
    assert again.diagnostics()["excess_test_error"] == pytest.approx(excess_test_error(regression, weights))
    assert list(again.sample(5, DecodingParams(), 0).columns) == list(real.columns)


# ------------------------------------------------------------------ through the experiment flow (e2e)

# M samples per generation; many dimensions average the per-feature noise so the tolerance is tight
M, DIMS, SEEDS, GENERATIONS = 20, 400, 40, 5


def gaussian_chains(workspace, estimator: str, temperature: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """One ``replace`` chain per seed through the experiment flow: per seed and generation, the fitted
    variance and log-variance (averaged over features) as columns ``(metric, generation)``."""
    data = gaussian_data(4 * M, DIMS, 1.0, np.random.default_rng(seed))
    table = run_experiment(
        workspace,
        data,
        "GaussianGenerator",
        {"estimator": estimator},
        policies=["replace"],
        seeds=SEEDS,
        generations=GENERATIONS,
        rows=M,
        temperature=temperature,
    )
    return table.pivot_table(index="seed", columns="generation", values=["fitted_variance", "fitted_log_variance"])


@e2e
def test_gaussian_mle_variance_decays_geometrically_by_m_minus_1_over_m(workspace):
    variance = gaussian_chains(workspace, "mle")["fitted_variance"]
    assert variance[0].nunique() == 1  # one shared fit on the real sample
    for generation in range(1, GENERATIONS + 1):
        decay = ((M - 1) / M) ** generation
        off_by_one = ((M - 1) / M) ** (generation + 1)
        assert_mean_matches(
            variance[generation] / variance[0],
            decay,
            effect=1 - decay,
            wrong=off_by_one if generation == GENERATIONS else None,
        )


@e2e
def test_unbiased_estimator_keeps_the_mean_but_the_log_variance_falls_and_bias_lambda_decays(workspace):
    chains = gaussian_chains(workspace, "unbiased", seed=1)
    variance, log_variance = chains["fitted_variance"], chains["fitted_log_variance"]
    ratio = variance[GENERATIONS] / variance[0]
    assert_mean_matches(ratio, 1.0, effect=1 - ((M - 1) / M) ** GENERATIONS)  # the mean holds...
    per_fit = digamma((M - 1) / 2) + math.log(2 / (M - 1))  # E[log(χ²_{M−1} / (M−1))] < 0
    fall = log_variance[GENERATIONS] - log_variance[0]
    assert_mean_matches(fall, GENERATIONS * per_fit, effect=abs(per_fit) * GENERATIONS)  # ...the log falls
    # the typical feature's variance (geometric mean, i.e. exp of the mean log) falls in almost every chain
    assert (np.exp(fall) < 1.0).mean() > 0.9

    lam = 0.8
    biased = gaussian_chains(workspace, "unbiased", temperature=lam, seed=1)["fitted_variance"]
    for generation in (1, 3, 5):
        ratio = biased[generation] / biased[0]
        assert_mean_matches(ratio, lam**generation, effect=1 - lam**generation, wrong=lam ** (generation + 1))


@e2e
def test_linear_regression_error_grows_linearly_under_replace_and_stays_bounded_under_accumulate(workspace):
    d, t, noise, seeds, generations = 4, 30, 1.0, 60, 5
    rng = np.random.default_rng(2)
    weights = rng.standard_normal(d)
    data = regression_data(3 * t, weights, noise, rng)
    table = run_experiment(
        workspace,
        data,
        "LinearRegressionGenerator",
        {"noise_sd": noise, "true_weights": weights.tolist()},
        policies=["replace", "accumulate", "accumulate-subsample"],
        seeds=seeds,
        generations=generations,
        rows=t,
    )
    error = table.pivot_table(index=["policy", "seed"], columns="generation", values="excess_test_error")
    c = noise**2 * d / (t - d - 1)  # the error one fit on T fresh samples adds
    first = error.loc["replace"][0].iloc[0]  # the shared generation-0 model, fitted on the real sample
    n = generations + 1  # the model of generation g is the (g+1)-th model of the theory
    # replace: every later model adds a full c; accumulate: the i-th model adds c / i²
    expected_replace = first + replace_error(n, noise**2, d, t) - c
    expected_accumulate = first + accumulate_error(n, noise**2, d, t) - c
    assert_mean_matches(
        error.loc["replace"][generations], expected_replace, effect=expected_replace - first, wrong=expected_accumulate
    )
    assert_mean_matches(
        error.loc["accumulate"][generations],
        expected_accumulate,
        effect=expected_replace - expected_accumulate,
        wrong=expected_replace,
    )
    assert error.loc["accumulate"].mean().max() < first + c * (math.pi**2 / 6 - 1) * 1.25  # bounded
    # accumulate-subsample degrades, but much more slowly than replacing
    subsample = error.loc["accumulate-subsample"].mean()
    assert subsample[generations] > subsample[0]
    assert subsample[generations] - subsample[0] < 0.5 * (expected_replace - first)
