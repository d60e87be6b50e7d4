import numpy as np
import pandas as pd
import pytest

from collapse_guard.tabular.metrics.categorical import categorical_metrics, rare_levels


def column(shares: dict[str, float], n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"c": rng.choice(list(shares), size=n, p=list(shares.values()))})


SHARES = {"a": 0.6, "b": 0.35, "rare1": 0.03, "rare2": 0.02}


def test_rare_levels_are_the_least_frequent_up_to_the_tail_share():
    assert rare_levels(column(SHARES, 20_000, 0)["c"], 0.05) == {"rare1", "rare2"}
    assert rare_levels(pd.Series(["a"] * 90 + ["b"] * 10), 0.05) == {"b"}  # at least the rarest one


def test_retention_is_one_for_real_samples_and_falls_as_rare_levels_vanish():
    anchor, held_out = column(SHARES, 20_000, 0), column(SHARES, 5_000, 1)
    real = categorical_metrics(column(SHARES, 20_000, 2), anchor, held_out, ["c"], 0.05)
    assert real["rare_level_retention"] == pytest.approx(1.0, abs=0.1) and real["level_coverage"] == 1.0
    collapsed = categorical_metrics(column({"a": 0.7, "b": 0.3}, 20_000, 3), anchor, held_out, ["c"], 0.05)
    assert collapsed["rare_level_retention"] == 0.0 and collapsed["level_coverage"] == 0.5
    assert categorical_metrics(column(SHARES, 10, 4), anchor, held_out, [], 0.05) == {}
