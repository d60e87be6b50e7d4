"""`collapse-guard experiment --theory` at tiny sizes: every closed form through the product's chain, with
bounds loose enough for a tenth of the chains and tight enough to reject the wrong formulas.

(The full run, within 1 % in about a minute of two cores, is printed in docs/benchmarks/safe-zone.md.)
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from collapse_guard import theory
from collapse_guard.cli import app
from collapse_guard.pipeline import theory_checks
from tests.conftest import write_params

SCALE = 0.05


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    workspace = tmp_path_factory.mktemp("theory")
    write_params(workspace, experiment={"theory_scale": SCALE, "workers": 1})
    result = CliRunner().invoke(app, ["experiment", "--theory", "--json", "--params", str(workspace / "params.yaml")])
    assert result.exit_code == 0, result.output
    assert not (workspace / "ledger").exists() and not (workspace / "mlflow.db").exists()  # it writes nothing
    return json.loads(result.stdout)


def checks(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}


def test_every_closed_form_is_printed_with_its_measurement_error_and_seeds(report):
    found = checks(report)
    assert list(found) == list(theory_checks.CHECK_NAMES)
    for check in found.values():
        assert check["formula"] and check["reference"] and check["sizes"]
        assert check["low"] <= check["measured"] <= check["high"]
        assert check["seeds"].count("-") == 1 and check["chains"] >= 4 and check["fits"] > check["chains"]
        assert check["relative_error"] == pytest.approx(check["measured"] / check["closed_form"] - 1)
        assert abs(check["relative_error"]) < 0.1, check  # a twentieth of the chains: within 10 %
        assert check["passed"], check
    assert report["passed"]


def test_the_measurements_reject_the_wrong_formulas(report):
    found = checks(report)
    gaussian = found["gaussian-mle-variance"]
    # two fits more or less, or no decay at all, lie outside the interval (one fit needs the full run's chains)
    for wrong in (theory.mle_variance_decay(7, 20), theory.mle_variance_decay(3, 20), 1.0):
        assert not gaussian["low"] <= wrong <= gaussian["high"]
    replace, accumulate = found["regression-replace"], found["regression-accumulate"]
    assert replace["measured"] > 3 * accumulate["measured"]  # linear growth against a bounded sum
    assert not accumulate["low"] <= theory.replace_error(6, 1.0, 5, 50) <= accumulate["high"]
    anchored = found["anchored-gaussian-mean"]
    assert anchored["measured"] < 0.5  # bounded by the anchor: below λ/(1+2λ) < 1/2 at every λ
    collision = found["categorical-collision"]
    s0 = float(collision["note"].split("= ")[1].split(" ")[0])
    assert collision["measured"] > s0 + 0.2  # the model concentrates on fewer tokens...
    assert not collision["low"] <= theory.collision_probability(20, 20, s0) <= collision["high"]  # ...at its pace
    golden = found["golden-ratio-weight"]
    assert golden["low"] <= (math.sqrt(5) - 1) / 2 <= golden["high"] and not golden["low"] <= 0.5 <= golden["high"]


def test_closed_forms_agree_with_their_derivations():
    # the weighted estimator's variance is smallest at the golden-ratio weight, for several sizes
    for n, m in ((20, 20), (40, 20), (10, 30)):
        weights = np.linspace(0.01, 0.99, 9801)
        best = weights[np.argmin([theory.weighted_fresh_variance(w, n, m) for w in weights])]
        assert best == pytest.approx(theory.golden_ratio_weight(n / m), abs=1e-3)
    assert theory.golden_ratio_weight(1) == pytest.approx(0.6180339887)
    # the anchored recursion, iterated, lands on the closed form
    lam, n = 2.0, 50
    a, variance = lam / (1 + lam), 0.0
    for rounds in range(1, 8):
        variance = a**2 * (variance + 1 / (lam * n))
        assert n * variance == pytest.approx(theory.anchored_mean_error(rounds, lam))
    # collision probability: one refit on n samples adds (1 − S)/n in expectation
    assert theory.collision_probability(1, 10, 0.2) == pytest.approx(0.2 + 0.8 / 10)
    assert theory.weighted_fresh_variance_after(50, 0.6, 20, 20) == pytest.approx(
        theory.weighted_fresh_variance(0.6, 20, 20)
    )
