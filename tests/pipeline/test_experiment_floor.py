"""The experiment tells the truth about policies: the gate's real-fraction floor marks a chain blocked from the
generation a guarded run would have stopped at, every chain's rows come in generation order, and a chain that
switches policy mid-run mixes by the second policy from the generation it names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from collapse_guard.config import DecodingParams
from collapse_guard.modality.registry import load_params
from collapse_guard.pipeline.experiment import ChainSpec, Switch, simulate_chain, tidy
from collapse_guard.records import atomic
from collapse_guard.records.anchor import load_split
from collapse_guard.records.provenance import stamp_real
from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.modality import TabularModality
from tests.conftest import write_params


def chains(tmp_path: Path, policies: list[str], switch: Switch | None = None, real_fraction: float | None = None):
    write_params(tmp_path, evaluation={"sample_size": 200, "distribution_metrics": False})
    params = load_params(tmp_path / "params.yaml")
    atomic.write_parquet(params.anchor_path, stamp_real(sample_default(300, 0.025, np.random.default_rng(0)), "t"))
    anchor = load_split(params.anchor_path, 0.2)
    modality = TabularModality(params)
    return [
        simulate_chain(
            ChainSpec(
                policy,
                0,
                generations=4,
                synthetic_per_generation=150,
                anchor_rows=100,
                real_fraction=real_fraction,
                switch=switch,
            ),
            anchor,
            model=params.model.model_copy(update={"options": {"components": 4, "epochs": 30}}),
            mixing=params.mixing,
            decoding=DecodingParams(temperature=0.9),
            modality=modality,
            min_real_fraction=0.25,
        )
        for policy in policies
    ]


def test_blocked_chains_are_marked_from_the_generation_the_gate_would_stop_and_rows_are_in_order(tmp_path: Path):
    table, _ = tidy(chains(tmp_path, ["replace", "accumulate", "adaptive-ratio"]))
    for policy, rows in table.groupby("policy"):
        assert rows["generation"].tolist() == [0, 1, 2, 3, 4], policy
        blocked = rows["gate_blocked"].to_numpy()
        below = (rows["real_fraction"] < 0.25).to_numpy()
        first = int(np.argmax(below)) if below.any() else len(rows)
        assert (blocked == (np.arange(len(rows)) >= first)).all(), policy  # sticky from the first breach
    replace = table[table["policy"] == "replace"]
    assert replace["gate_blocked"].tolist() == [False, True, True, True, True]
    assert table.loc[table["policy"] == "accumulate", "gate_blocked"].any()  # 100 real records dilute fast
    assert not table.loc[table["policy"] == "adaptive-ratio", "gate_blocked"].any()


def test_a_switched_chain_mixes_by_the_second_policy_from_the_generation_it_names(tmp_path: Path):
    (result,) = chains(tmp_path, ["fixed-ratio"], switch=Switch(3, "replace"), real_fraction=0.5)
    rows = result.rows
    assert [row["real_fraction"] for row in rows[1:3]] == [0.5, 0.5]  # fixed-ratio holds its share
    assert [row["real_fraction"] for row in rows[3:]] == [0.0, 0.0]  # replace trains on synthetic data alone
    assert [row["target_real_fraction"] for row in rows[1:3]] == [0.5, 0.5]
