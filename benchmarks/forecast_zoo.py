"""Does the collapse forecast warn in time where the obvious answer cannot? A zoo of chains, scored per chain.

The chains (collapse_guard.pipeline.experiment.simulate_chain: the guarded run's generation step, in memory) run
on the embedded default in settings where the real fraction of the mixture alone does not say which chain
collapses: fixed-ratio at several real fractions, anchors of 300 rows and fewer, decoding temperatures below 1,
policies that switch mid-run, plus a few where the obvious answer does work (``replace``). Every chain's metrics
are replayed through the product's forecast (collapse_guard.reports.forecast.for_history and the alert rule of
forecast_alerts) at every generation k as if the chain had only reached k, for two metrics against their floors
(params.yaml ``forecast.floors``): rare-region retention and tail coverage. Per chain and metric:

- the crossing: the first generation from which the metric stays below its floor for two generations (the
  experiment's rule, collapse_guard.pipeline.experiment.generations_until), within the chain's generations;
- a hit: an alert at some generation 1 to 4 generations before the crossing; a miss: none there;
- a false alarm: any alert on a chain that never crosses;
- a chain crossing before generation 3 is counted apart (a line needs three points: nothing can be said before).

Beside the forecast, the trivial reference "no real data in the latest mixture (real fraction 0): crossing next
generation" is scored the same way on every setting. The forecast's settings (``forecast.window``,
``half_life``, ``level``, ``leads`` and ``alerts.forecast_generations``) are tuned on one set of seeds and
reported on held-out seeds, with Wilson 95 % intervals.

Run from the repository root (each chain is appended to --chains as it ends; chains there are not run again):
`OMP_NUM_THREADS=1 nice python benchmarks/forecast_zoo.py --tune-seeds 0-3 --test-seeds 4-11 --chains reports/zoo.csv`
(docs/benchmarks/forecast-zoo.md has the figures of a shrunk run).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collapse_guard.config import DecodingParams, ForecastParams, Params  # noqa: E402
from collapse_guard.modality.registry import load_params, modality_for  # noqa: E402
from collapse_guard.pipeline.experiment import ChainSpec, Switch, generations_until, simulate_under  # noqa: E402
from collapse_guard.records.anchor import AnchorSplit, describe, split  # noqa: E402
from collapse_guard.reports.forecast import for_history  # noqa: E402

LEAD_TIMES = (1, 4)  # an alert this many generations before the crossing (inclusive) is a hit
FIRST_ORIGIN = 2  # the first generation a forecast can be made at (three points)
METRICS = ("rare_region_retention", "tail_coverage")


@dataclass(frozen=True)
class Setting:
    policy: str
    anchor_rows: int
    temperature: float
    real_fraction: float | None = None
    switch: Switch | None = None
    fixed: bool = True  # the real fraction stays what it was set to (the trivial reference has nothing to read)


SETTINGS = {
    "fixed 0.1, 1000 rows, T 0.9": Setting("fixed-ratio", 1000, 0.9, 0.1),
    "fixed 0.2, 1000 rows, T 0.8": Setting("fixed-ratio", 1000, 0.8, 0.2),
    "fixed 0.5, 1000 rows, T 0.9": Setting("fixed-ratio", 1000, 0.9, 0.5),
    "fixed 0.3, 300 rows, T 0.9": Setting("fixed-ratio", 300, 0.9, 0.3),
    "fixed 0.5, 300 rows, T 0.7": Setting("fixed-ratio", 300, 0.7, 0.5),
    "fixed 0.7, 300 rows, T 0.6": Setting("fixed-ratio", 300, 0.6, 0.7),
    "accumulate, 300 rows, T 0.7": Setting("accumulate", 300, 0.7, fixed=False),
    "fixed 0.5 -> 0.1 at 5, 1000 rows, T 0.8": Setting(
        "fixed-ratio", 1000, 0.8, 0.5, Switch(5, "fixed-ratio", 0.1), fixed=False
    ),
    "accumulate -> replace at 5, 1000 rows, T 0.9": Setting(
        "accumulate", 1000, 0.9, switch=Switch(5, "replace"), fixed=False
    ),
    "replace, 1000 rows, T 0.9": Setting("replace", 1000, 0.9, fixed=False),
}


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def zoo_params(sample_size: int, settings: dict | None = None) -> Params:
    """params.yaml with a smaller evaluation (no distribution metrics) so a chain of 14 generations takes seconds."""
    overrides = {
        **(settings or {}),
        "evaluation.sample_size": sample_size,
        "evaluation.distribution_metrics": False,
        "mixing.real_fraction": 0.5,
    }
    return load_params(ROOT / "params.yaml", overrides)


def run_zoo(
    params: Params, names: list[str], seeds: list[int], generations: int, synthetic: int, cache: Path | None
) -> pd.DataFrame:
    """Every (seed, setting) chain, seed by seed (the tuning seeds finish first); each chain is appended to ``cache``
    as it ends, and chains already there are not run again."""
    modality = modality_for(params)
    frame = modality.initial_anchor()
    train, held_out = split(frame, params.data.holdout_fraction)
    anchor = AnchorSplit(frame, train, held_out, describe(frame))
    done = pd.read_csv(cache) if cache and cache.is_file() else pd.DataFrame(columns=["setting", "seed"])
    finished = set(zip(done["setting"], done["seed"], strict=True))
    for seed in seeds:
        for name in names:
            if (name, seed) in finished:
                continue
            setting = SETTINGS[name]
            started = time.process_time()
            spec = ChainSpec(
                setting.policy,
                seed,
                generations,
                synthetic,
                real_fraction=setting.real_fraction,
                anchor_rows=setting.anchor_rows,
                switch=setting.switch,
            )
            result = simulate_under(params, spec, anchor, modality, DecodingParams(temperature=setting.temperature))
            rows = pd.DataFrame(
                [
                    {
                        "setting": name,
                        "seed": seed,
                        "generation": row["generation"],
                        "real_fraction": row["real_fraction"],
                        "anchor_rows": row["anchor_rows"],
                        **{key: row.get(key, np.nan) for key in (*METRICS, "heldout_real_loss", "variance_ratio")},
                    }
                    for row in result.rows
                ]
            )
            if cache:
                cache.parent.mkdir(parents=True, exist_ok=True)
                rows.to_csv(cache, mode="a", header=not cache.is_file(), index=False)
            done = pd.concat([done, rows], ignore_index=True)
            print(f"  {name} seed {seed}: {time.process_time() - started:.0f} s CPU", flush=True)
    return done[done["seed"].isin(seeds) & done["setting"].isin(names)].reset_index(drop=True)


# -- replay and scoring ---------------------------------------------------------------------------------------------
def crossings(table: pd.DataFrame, metric: str, floor: float) -> pd.Series:
    """Per (setting, seed): the generation the metric crosses its floor for good (NaN: never, within the chain)."""
    marked = table.assign(target_real_fraction=0.0, anchor_rows=0)
    found = {}
    for (name, seed), chain in marked.groupby(["setting", "seed"]):
        zone = generations_until(chain.assign(seed=seed), metric, floor)
        found[(name, seed)] = float(zone["generations_until_below"].iloc[0])
    return pd.Series(found)


def forecast_alerts_by_origin(chain: pd.DataFrame, metric: str, settings: ForecastParams, within: float) -> list[int]:
    """The generations k at which the product's forecast, made from generations 0..k, raises an alert."""
    history = [
        (int(g), {metric: float(v), **({"heldout_real_loss": float(loss)} if loss == loss else {})})
        for g, v, loss in zip(chain["generation"], chain[metric], chain["heldout_real_loss"], strict=True)
        if v == v
    ]
    alerted = []
    for k in range(FIRST_ORIGIN, int(chain["generation"].max()) + 1):
        made = for_history([item for item in history if item[0] <= k], settings)
        if made and made[0].last_generation == k and made[0].warns_within(within) and made[0].generations_until != 0:
            alerted.append(k)
    return alerted


def trivial_alerts_by_origin(chain: pd.DataFrame, metric: str, floor: float) -> list[int]:
    """The reference: alert at k when the mixture of generation k held no real data and the metric is not yet below."""
    return [
        int(g)
        for g, fraction, value in zip(chain["generation"], chain["real_fraction"], chain[metric], strict=True)
        if g >= FIRST_ORIGIN and fraction == 0 and not value < floor
    ]


def score(table: pd.DataFrame, metric: str, floor: float, alerts_of) -> pd.DataFrame:
    """One row per chain: its crossing, whether an alert came 1-4 generations before it, any false alarm."""
    crossed = crossings(table, metric, floor)
    rows = []
    for (name, seed), chain in table.groupby(["setting", "seed"]):
        chain = chain.sort_values("generation")
        crossing = crossed[(name, seed)]
        alerts = alerts_of(chain)
        early = (FIRST_ORIGIN + 1) if not np.isnan(crossing) else None
        rows.append(
            {
                "setting": name,
                "seed": seed,
                "metric": metric,
                "crossing": crossing,
                "forecastable": bool(early is not None and crossing >= early),
                "hit": bool(
                    not np.isnan(crossing) and any(LEAD_TIMES[0] <= crossing - k <= LEAD_TIMES[1] for k in alerts)
                ),
                "false_alarm": bool(np.isnan(crossing) and alerts),
                "alerts": len(alerts),
            }
        )
    return pd.DataFrame(rows)


def score_forecast(table: pd.DataFrame, settings: ForecastParams, within: float, floors: dict) -> pd.DataFrame:
    return pd.concat(
        [
            score(
                table,
                metric,
                floors[metric],
                lambda chain, m=metric: forecast_alerts_by_origin(
                    chain, m, settings.model_copy(update={"floors": {m: floors[m]}, "ceilings": {}}), within
                ),
            )
            for metric in METRICS
        ],
        ignore_index=True,
    )


def score_trivial(table: pd.DataFrame, floors: dict) -> pd.DataFrame:
    return pd.concat(
        [
            score(table, metric, floors[metric], lambda chain, m=metric: trivial_alerts_by_origin(chain, m, floors[m]))
            for metric in METRICS
        ],
        ignore_index=True,
    )


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rates(outcomes: pd.DataFrame) -> dict[str, object]:
    """Hit rate over forecastable crossing chains, false-alarm rate over never-crossing chains (with intervals)."""
    crossing = outcomes[outcomes["forecastable"]]
    never = outcomes[outcomes["crossing"].isna()]
    hits, n_cross = int(crossing["hit"].sum()), len(crossing)
    alarms, n_never = int(never["false_alarm"].sum()), len(never)
    return {
        "hits": hits,
        "crossing": n_cross,
        "hit_rate": hits / n_cross if n_cross else float("nan"),
        "hit_ci": wilson(hits, n_cross),
        "false_alarms": alarms,
        "never": n_never,
        "false_alarm_rate": alarms / n_never if n_never else float("nan"),
        "false_alarm_ci": wilson(alarms, n_never),
        "too_early_to_forecast": int((outcomes["crossing"].notna() & ~outcomes["forecastable"]).sum()),
    }


def describe_rates(found: dict) -> str:
    def share(k: int, n: int, ci: tuple[float, float]) -> str:
        return f"{k}/{n} = {k / n:.0%} [{ci[0]:.0%}, {ci[1]:.0%}]" if n else "0/0"

    return (
        f"hits {share(found['hits'], found['crossing'], found['hit_ci'])}; false alarms "
        f"{share(found['false_alarms'], found['never'], found['false_alarm_ci'])}"
    )


# -- tuning -------------------------------------------------------------------------------------------------------
GRID = {
    "window": [5, 8, 12, 20],
    "half_life": [0.0, 2.0, 5.0],
    "level": [0.5, 0.8, 0.95],
    "lead": [False, True],
    "within": [2.0, 3.0, 4.0],
}


def tune(table: pd.DataFrame, base: ForecastParams, floors: dict, max_false_alarms: float) -> list[dict]:
    """Every grid point's pooled rates on ``table``, best first: the highest hit rate among those whose false-alarm
    rate is at most ``max_false_alarms``, then the rest by hit rate minus false-alarm rate."""
    results = []
    for window, half_life, level, lead, within in itertools.product(*GRID.values()):
        leads = {metric: "heldout_real_loss" for metric in METRICS} if lead else {}
        settings = base.model_copy(update={"window": window, "half_life": half_life, "level": level, "leads": leads})
        found = rates(score_forecast(table, settings, within, floors))
        results.append(
            {"window": window, "half_life": half_life, "level": level, "lead": lead, "within": within, **found}
        )
    return sorted(
        results,
        key=lambda r: (r["false_alarm_rate"] <= max_false_alarms, r["hit_rate"] - r["false_alarm_rate"]),
        reverse=True,
    )


def settings_from(choice: dict, base: ForecastParams) -> ForecastParams:
    leads = {metric: "heldout_real_loss" for metric in METRICS} if choice["lead"] else {}
    return base.model_copy(
        update={"window": choice["window"], "half_life": choice["half_life"], "level": choice["level"], "leads": leads}
    )


def report(table: pd.DataFrame, settings: ForecastParams, within: float, floors: dict, label: str) -> None:
    product = score_forecast(table, settings, within, floors)
    trivial = score_trivial(table, floors)
    print(
        f"\n{label}: forecast (window {settings.window}, half-life {settings.half_life:g}, level {settings.level}, "
        f"leads {settings.leads or 'none'}, alert within {within:g}) against the trivial reference"
    )
    print(f"  all chains, both metrics:   forecast {describe_rates(rates(product))}")
    print(f"  {'':29s}trivial  {describe_rates(rates(trivial))}")
    fixed = [name for name in SETTINGS if SETTINGS[name].fixed]
    print(f"  real fraction fixed:        forecast {describe_rates(rates(product[product['setting'].isin(fixed)]))}")
    print(f"  {'':29s}trivial  {describe_rates(rates(trivial[trivial['setting'].isin(fixed)]))}")
    for metric in METRICS:
        print(f"  {metric:28s} forecast {describe_rates(rates(product[product['metric'] == metric]))}")
        print(f"  {'':28s} trivial  {describe_rates(rates(trivial[trivial['metric'] == metric]))}")
    print("  per setting (forecast | trivial):")
    for name in SETTINGS:
        if name not in set(product["setting"]):
            continue
        p, t = rates(product[product["setting"] == name]), rates(trivial[trivial["setting"] == name])
        print(
            f"    {name:45s} crossing {p['crossing']:2d} (+{p['too_early_to_forecast']} before gen 3), never "
            f"{p['never']:2d} | hits {p['hits']}/{p['crossing']} vs {t['hits']}/{t['crossing']} | false alarms "
            f"{p['false_alarms']}/{p['never']} vs {t['false_alarms']}/{t['never']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tune-seeds", default="0-3", help="seeds the forecast's settings are tuned on (a-b)")
    parser.add_argument("--test-seeds", default="4-11", help="held-out seeds the tuned forecast is reported on")
    parser.add_argument("--generations", type=int, default=14)
    parser.add_argument("--synthetic", type=int, default=1500, help="synthetic records per generation")
    parser.add_argument("--sample-size", type=int, default=1500, help="model samples drawn to measure collapse")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), help="a subset of the zoo's settings")
    parser.add_argument("--chains", type=Path, default=None, help="CSV cache of the chains: those in it are not rerun")
    parser.add_argument("--max-false-alarms", type=float, default=0.10, help="the tuning's false-alarm budget")
    args = parser.parse_args()
    params = zoo_params(args.sample_size)
    floors = {metric: params.forecast.floors.get(metric, 0.5) for metric in METRICS}
    tune_seeds, test_seeds = seed_range(args.tune_seeds), seed_range(args.test_seeds)
    started = time.process_time()
    print(f"load average {os.getloadavg()[0]:.1f}; floors {floors}; seeds {args.tune_seeds} / {args.test_seeds}")
    table = run_zoo(params, args.settings, tune_seeds + test_seeds, args.generations, args.synthetic, args.chains)
    print(f"{table.groupby(['setting', 'seed']).ngroups} chains ({args.chains or 'not cached'})")
    tuning, held_out = table[table["seed"].isin(tune_seeds)], table[table["seed"].isin(test_seeds)]
    current = params.forecast
    report(tuning, current, params.alerts.forecast_generations, floors, f"tuning seeds {args.tune_seeds}, params.yaml")
    ranked = tune(tuning, current, floors, args.max_false_alarms)
    print("\nbest grid points on the tuning seeds (hit rate, false-alarm rate):")
    for row in ranked[:8]:
        print(
            f"  window {row['window']:2d} half-life {row['half_life']:3g} level {row['level']:.2f} lead "
            f"{row['lead']!s:5s} within {row['within']:g}: hits {row['hits']}/{row['crossing']} "
            f"({row['hit_rate']:.0%}), false alarms {row['false_alarms']}/{row['never']} "
            f"({row['false_alarm_rate']:.0%})"
        )
    best = ranked[0]
    report(held_out, settings_from(best, current), best["within"], floors, f"held-out seeds {args.test_seeds}, tuned")
    label = f"held-out seeds {args.test_seeds}, params.yaml"
    report(held_out, current, params.alerts.forecast_generations, floors, label)
    print(f"\n{time.process_time() - started:.0f} s CPU; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
