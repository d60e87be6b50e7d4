"""The transformer collapse benchmark (benchmarks/transformer_collapse.py) at tiny size: its shape and its
bookkeeping, not its science (a one-epoch model on 120 paragraphs says nothing about collapse)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("transformer_collapse", REPO / "benchmarks/transformer_collapse.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def table(benchmark):
    return benchmark.run(benchmark.TINY, generations=2, seeds=1, progress=False)


def test_every_arm_runs_every_generation_and_records_finite_metrics(benchmark, table):
    assert list(table.groupby("arm", sort=False).size().items()) == [(arm, 3) for arm in benchmark.ARMS]
    assert sorted(set(table["generation"])) == [0, 1, 2] and set(table["seed"]) == {0}
    metrics = table[list(benchmark.REPORTED)].to_numpy(dtype=float)
    assert np.isfinite(metrics).all() and (table[benchmark.PERPLEXITY] > 1).all()
    assert (table["chain_cpu_seconds"] > 0).all()
    # generation 0 trains on real data alone under every arm, with the same seed: the same model
    first = table[table["generation"] == 0]
    assert first[benchmark.PERPLEXITY].nunique() == 1 and (first["real_fraction"] == 1).all()


def test_each_arm_trains_on_the_real_share_it_names(table):
    later = table[table["generation"] > 0].set_index("arm")
    assert (later.loc["0 % real kept", "real_fraction"] == 0).all()
    kept = later.loc["10 % real kept"]
    assert ((kept["real_fraction"] - 0.1).abs() <= 1 / kept["training_rows"]).all()
    accumulated = later.loc["accumulate", "real_fraction"].to_numpy()
    assert (np.diff(accumulated) < 0).all() and (accumulated > 0.2).all()


def test_the_summary_verdict_and_figure_are_written_from_the_table(benchmark, table, tmp_path: Path):
    summary = benchmark.summary(table)
    assert len(summary) == len(benchmark.ARMS) * len(benchmark.REPORTED)
    assert set(summary.columns) == {"arm", "metric", "generation 0", "generation 2", "change"}
    rises = benchmark.perplexity_rise(table)
    assert len(rises) == len(benchmark.ARMS)
    assert all(math.isfinite(value) for value in rises["rise"]) and rises["rising_steps"].between(0, 1).all()
    zero = table[table["arm"] == "0 % real kept"].sort_values("generation")[benchmark.PERPLEXITY].to_numpy()
    assert rises.set_index("arm").loc["0 % real kept", "rise"] == pytest.approx(zero[-1] - zero[0])
    assert "0 % arm: mean rise" in benchmark.verdict(rises)
    figure = benchmark.draw(table, tmp_path / "curves.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_pretrained_base_is_fine_tuned_every_generation(benchmark, table):
    """With ``pretrain_words`` every generation fine-tunes one base model (trained on docstrings, not the anchor),
    so generation 0 is not the from-scratch model of the same seed."""
    from dataclasses import replace

    sizes = replace(benchmark.TINY, pretrain_words=2000)
    tuned = benchmark.run(sizes, generations=1, seeds=1, progress=False, arms=("10 % real kept",))
    assert list(tuned["arm"].unique()) == ["10 % real kept"] and len(tuned) == 2
    assert np.isfinite(tuned[list(benchmark.REPORTED)].to_numpy(dtype=float)).all()
    scratch = table.loc[(table["arm"] == "10 % real kept") & (table["generation"] == 0), benchmark.PERPLEXITY]
    assert tuned.loc[tuned["generation"] == 0, benchmark.PERPLEXITY].iloc[0] != pytest.approx(scratch.iloc[0])
    paragraphs = benchmark.docstring_paragraphs(500)
    assert sum(len(p.split()) for p in paragraphs) >= 500 and len(set(paragraphs)) == len(paragraphs)
    assert not any(">>>" in p for p in paragraphs)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    none=st.lists(st.floats(-50, 1000, allow_nan=False), min_size=1, max_size=5),
    share=st.floats(-0.5, 1.5, allow_nan=False),
)
def test_the_verdict_says_within_a_third_exactly_when_every_0_arm_rose_and_the_mean_ratio_is_at_most_a_third(
    benchmark, none, share
):
    """The verdict compares the arms' mean rises; each seed's 10 % chain rises ``share`` times its 0 % chain."""
    seeds = range(len(none))
    rises = pd.DataFrame(
        [{"arm": "0 % real kept", "seed": s, "rise": r} for s, r in zip(seeds, none, strict=True)]
        + [{"arm": "10 % real kept", "seed": s, "rise": r * share} for s, r in zip(seeds, none, strict=True)]
    )
    mean = float(np.mean(none))
    ratio = float(np.mean([r * share for r in none])) / mean if mean else np.nan
    assume(not abs(ratio - 1 / 3) < 1e-9)  # the two sums may round differently on the boundary itself
    within = all(r > 0 for r in none) and ratio <= 1 / 3
    text = benchmark.verdict(rises)
    assert ("(at most a third)" in text) == within
    assert ("(every seed rose)" in text) == all(r > 0 for r in none)
