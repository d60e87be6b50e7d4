"""Does the collapse forecast warn in time, and only when it should? Measured on the experiment's own chains.

Runs ``replace`` and ``accumulate`` chains (collapse_guard.pipeline.experiment.simulate_chain: the guarded
pipeline's generation step, in memory) on a small embedded anchor with a sampling bias, then replays the product's
forecast (collapse_guard.reports.forecast.for_history, with params.yaml's ``forecast:`` settings, its ``leads``
included: ``--set 'forecast.leads={}'`` scores the metric's own line alone) at every generation k as if the chain
had only reached k, and compares it with what the chain did next:

- the crossing: the first generation from which the metric stays below its floor for two generations (the
  experiment's rule, collapse_guard.pipeline.experiment.generations_until);
- hit rate (replace chains that crossed): the forecast made 2, 3, ... generations before the crossing puts it
  within ±2 generations of the real one (reported for the forecast made exactly 2 ahead, and over every origin at
  least 2 ahead);
- false alarms (accumulate chains): the forecast alerts (crossing within ``alerts.forecast_generations``) and the
  chain has not crossed within that many generations + 2.

Beside it, the same scores for a deliberately trivial reference: "no real data in the latest mixture
(real_fraction 0): crossing next generation". On these chains it hits every crossing forecastable 2 ahead and
never false-alarms, because here ``replace`` (real fraction 0) is what collapses and ``accumulate`` is what does
not: this benchmark cannot tell forecasting skill from recognising the mixing policy. A forecast that matches the
reference here does no worse than the label; whether it foresees collapse where the label cannot is for chains
whose real fraction never reaches 0 (the README's fixed-ratio stress chains).

Run from the repository root: `nice -n 10 python benchmarks/forecast_validation.py [--seeds 6 --generations 12]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collapse_guard.config import Params
from collapse_guard.modality.registry import load_params, modality_for
from collapse_guard.pipeline.experiment import ChainSpec, generations_until, simulate_under, tidy
from collapse_guard.records.anchor import AnchorSplit, describe, split
from collapse_guard.reports.forecast import Forecast, for_history

REPO = Path(__file__).resolve().parents[1]


def small_params(rows: int, temperature: float, sample_size: int, settings: dict | None = None) -> Params:
    """params.yaml (its model, forecast and alert settings), with a smaller anchor and evaluation so a chain of a
    dozen generations takes seconds; ``settings`` are further dotted overrides (``--set forecast.window=8``)."""
    overrides = {
        **(settings or {}),
        "tabular.embedded.rows": rows,
        "evaluation.sample_size": sample_size,
        "evaluation.distribution_metrics": False,
        "experiment.decoding.temperature": temperature,
    }
    return load_params(REPO / "params.yaml", overrides)


def run_chains(
    params: Params, policies: list[str], seeds: range, generations: int, per_generation: int
) -> pd.DataFrame:
    modality = modality_for(params)
    frame = modality.initial_anchor()
    train, held_out = split(frame, params.data.holdout_fraction)
    anchor = AnchorSplit(frame, train, held_out, describe(frame))
    results = []
    for policy in policies:
        for seed in seeds:
            started = time.perf_counter()
            spec = ChainSpec(policy, seed, generations, per_generation)
            results.append(simulate_under(params, spec, anchor, modality))
            print(f"  {policy} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return tidy(results)[0]


def replay(table: pd.DataFrame, metric: str, floor: float, params: Params) -> pd.DataFrame:
    """One row per (chain, origin k): the product's forecast of ``metric`` (``forecast.for_history`` with
    params.yaml's settings, its lead included) made with generations 0..k, and the chain's real crossing."""
    settings = params.forecast.model_copy(update={"floors": {metric: floor}, "ceilings": {}})
    return _replay(table, metric, floor, lambda seen: _only(for_history(_history(seen), settings)), params)


def replay_trivial(table: pd.DataFrame, metric: str, floor: float, params: Params) -> pd.DataFrame:
    """The same replay with a deliberately trivial reference in place of the forecast: the metric already below its
    floor says 0; no real data in the latest mixture (real_fraction 0) says "crossing next generation" (1), which
    alerts; anything else says never."""

    def trivial(seen: pd.DataFrame) -> Forecast | None:
        if len(seen) < 3:  # the forecast's own minimum, so both are scored on the same origins
            return None
        last = seen.iloc[-1]
        until = 0.0 if last[metric] < floor else 1.0 if last["real_fraction"] == 0 else None
        return Forecast(
            metric=metric,
            floor=floor,
            direction="below",
            last_generation=int(last["generation"]),
            last_value=float(last[metric]),
            slope=0.0,
            slope_se=0.0,
            points=len(seen),
            generations_until=until,
            soonest=until,
            latest=until,
            basis="real_fraction 0",
        )

    return _replay(table, metric, floor, trivial, params)


def _history(seen: pd.DataFrame) -> list[tuple[int, dict[str, float]]]:
    """A chain's rows as the ledger's history: (generation, metrics) oldest first, missing values left out."""
    rows = seen.drop(columns=["policy", "seed", "kind", "reason"], errors="ignore").to_dict("records")
    return [
        (int(row["generation"]), {k: float(v) for k, v in row.items() if isinstance(v, int | float) and v == v})
        for row in rows
    ]


def _only(made: list[Forecast]) -> Forecast | None:
    return made[0] if made else None


def _replay(table: pd.DataFrame, metric: str, floor: float, method, params: Params) -> pd.DataFrame:
    crossings = {policy: crossings_for(chains, metric, floor) for policy, chains in table.groupby("policy")}
    rows = []
    for (policy, seed), chain in table.groupby(["policy", "seed"]):
        chain = chain.sort_values("generation")
        crossed = crossings[policy].get(seed, np.nan)
        last = int(chain["generation"].max())
        for k in range(2, last + 1):
            made = method(chain[chain["generation"] <= k])
            if made is None:
                continue
            rows.append(
                {
                    "policy": policy,
                    "seed": seed,
                    "origin": k,
                    "actual": crossed,
                    "last_generation": last,
                    "forecast": made.crossing_generation,
                    "until": made.generations_until,
                    "soonest": made.soonest,
                    "latest": made.latest,
                    "basis": made.basis,
                    "alerts": made.warns_within(params.alerts.forecast_generations) and made.generations_until != 0,
                }
            )
    return pd.DataFrame(rows)


def crossings_for(chains: pd.DataFrame, metric: str, floor: float) -> dict[int, float]:
    zone = generations_until(chains.assign(target_real_fraction=0.0), metric, floor)
    return dict(zip(zone["seed"], zone["generations_until_below"], strict=True))


def score(forecasts: pd.DataFrame, within: float) -> dict[str, str]:
    replace = forecasts[forecasts["policy"] == "replace"]
    crossed = replace[replace["actual"].notna()]
    ahead = crossed[crossed["origin"] <= crossed["actual"] - 2]
    hit = (ahead["forecast"].notna()) & ((ahead["forecast"] - ahead["actual"]).abs() <= 2)
    exactly_two = ahead[ahead["origin"] == ahead["actual"] - 2]
    hit_two = (exactly_two["forecast"].notna()) & ((exactly_two["forecast"] - exactly_two["actual"]).abs() <= 2)
    accumulate = forecasts[forecasts["policy"] == "accumulate"]
    false_alarm = accumulate["alerts"] & ~(
        accumulate["actual"].notna() & (accumulate["actual"] <= accumulate["origin"] + within + 2)
    )
    chains_alarmed = false_alarm.groupby(accumulate["seed"]).any()
    replace_chains = replace.groupby("seed")["actual"].first()
    before = crossed[crossed["origin"] < crossed["actual"]]
    warned = before.groupby("seed")["alerts"].any()
    return {
        "replace chains that crossed the floor": f"{int(replace_chains.notna().sum())} of {len(replace_chains)} "
        f"(at generations {sorted(int(g) for g in replace_chains.dropna())})",
        "hit rate, forecast made exactly 2 generations ahead": _rate(hit_two),
        "hit rate, every forecast made >= 2 generations ahead": _rate(hit),
        "replace chains alerted before their crossing (from gen 2)": _rate(warned),
        "false alarms, accumulate forecasts": _rate(false_alarm),
        "false alarms, accumulate chains with any": _rate(chains_alarmed),
    }


def _rate(flags: pd.Series) -> str:
    n = len(flags)
    return f"{int(flags.sum())}/{n} = {flags.mean():.1%}" if n else "0/0 (none to score)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed.. (a fresh range checks a rule tuned on others)"
    )
    parser.add_argument("--generations", type=int, default=12)
    parser.add_argument("--rows", type=int, default=600, help="embedded anchor rows")
    parser.add_argument("--per-generation", type=int, default=150, help="synthetic records per generation")
    parser.add_argument("--temperature", type=float, default=0.9, help="the sampling bias under study")
    parser.add_argument("--sample-size", type=int, default=2000, help="model samples drawn to measure collapse")
    parser.add_argument("--metric", default="tail_coverage")
    parser.add_argument("--floor", type=float, default=None, help="default: the metric's floor in forecast.floors")
    parser.add_argument("--out", type=Path, default=None, help="also save the replayed forecasts as CSV")
    parser.add_argument(
        "--chains", type=Path, default=None, help="CSV of the chains: read if it exists (re-score only), else written"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a params.yaml key, e.g. forecast.half_life=5 (repeatable; YAML values)",
    )
    args = parser.parse_args()
    settings = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
    params = small_params(args.rows, args.temperature, args.sample_size, settings)
    floor = params.forecast.floors[args.metric] if args.floor is None else args.floor
    started = time.perf_counter()
    rescored = bool(args.chains and args.chains.is_file())
    if rescored:
        table = pd.read_csv(args.chains)
        seeds = table.groupby("policy")["seed"].nunique().to_dict()
        print(f"re-scoring the chains in {args.chains} ({seeds} seeds; delete it to run new chains)", flush=True)
    else:
        print(f"chains: replace and accumulate x {args.seeds} seeds x {args.generations} generations", flush=True)
        table = run_chains(
            params,
            ["replace", "accumulate"],
            range(args.first_seed, args.first_seed + args.seeds),
            args.generations,
            args.per_generation,
        )
        if args.chains:
            args.chains.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(args.chains, index=False)
    chains_made = (
        f"chains from {args.chains}"
        if rescored
        else f"anchor {args.rows} rows, {args.per_generation} synthetic/generation, {args.sample_size} evaluation "
        f"samples, temperature {args.temperature}"
    )
    forecasts = replay(table, args.metric, floor, params)
    if args.out:
        forecasts.to_csv(args.out, index=False)
    print(
        f"\nforecast of {args.metric} < {floor:g} (window {params.forecast.window}, half-life "
        f"{params.forecast.half_life:g}, level {params.forecast.level},"
        f" alert within {params.alerts.forecast_generations:g}); {chains_made}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    within = params.alerts.forecast_generations
    product = score(forecasts, within)
    trivial = score(replay_trivial(table, args.metric, floor, params), within)
    leads = params.forecast.leads.get(args.metric)
    print(f"  {'':<58} {'forecast' + (f' (lead {leads})' if leads else ''):<28} trivial reference (real_fraction 0)")
    for name, value in product.items():
        print(f"  {name:<58} {value:<28} {trivial[name] if name in trivial and 'crossed' not in name else ''}")
    bases = forecasts.loc[forecasts["until"].notna(), "basis"].value_counts().to_dict()
    print(f"  {'forecasts of a crossing, by the line they came from':<58} {bases}")
    per_chain = table.pivot_table(index="generation", columns=["policy", "seed"], values=args.metric)
    print(f"\n{args.metric} by generation (columns: policy, seed)\n{per_chain.round(2).to_string()}")


if __name__ == "__main__":
    main()
