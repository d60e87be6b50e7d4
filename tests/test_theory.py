"""The experiment flow, run with the theory generators, must land on the closed forms.

Every chain of an experiment starts from the same real sample, so generation 0 is one shared fit and
the formulas hold conditionally on it: σ²ₙ / σ²₀ = ((M−1)/M)ⁿ, and so on. Each assertion allows four
standard errors of the mean over chains, and first checks that the standard error is small against
the effect, so a wrong formula (a missing (M−1)/M factor, linear growth instead of a bounded sum) fails.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import digamma

from collapse_guard.config import load_params
from collapse_guard.models.theory import accumulate_error, gaussian_data, regression_data, replace_error
from collapse_guard.workspace import initialise
from tests.conftest import write_params

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
THEORY = "collapse_guard.models.theory"


def run_experiment(
    workspace, data: pd.DataFrame, model: str, options: dict, *, policies, seeds, generations, rows, temperature=1.0
) -> pd.DataFrame:
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.experiment import collapse_experiment

    data.to_parquet(workspace / "real.parquet", index=False)
    write_params(
        workspace,
        data={"source": "real.parquet", "holdout_fraction": 0.2},
        model={"class": f"{THEORY}:{model}", "options": options},
        curation={"near_copy_radius": 0.0},
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
