"""The safe real fraction: the smallest share of real records r* that keeps a model healthy, certified.

Healthy means: after ``experiment.safe_zone.generations`` (G) generations of the ``fixed-ratio`` policy at real
share r, on the workspace's own anchor and model, every headline collapse metric of the modality (tables: tail
coverage and variance ratio) is within ``tolerance`` of its generation-0 value (relative). r* is the smallest
multiple of ``step`` at which the mean deviation over seeds is within tolerance (more real data never hurts:
the deviation is taken to fall as r rises).

The full sweep answers that by running every multiple of ``step`` with ``seeds`` chains each (``sweep``). The
search (``search``) answers it at a fraction of the cost: a bisection over the same grid, each tested fraction
deciding "safe" or "unsafe" with sequential seeds, as soon as a one-sided ``confidence`` bound on the mean
deviation clears the tolerance (the spread of the deviations is pooled over every fraction tested, so two seeds
can decide a fraction far from r*), or by the mean once ``seeds`` chains ran (the sweep's own rule). It uses
the same seeds as the sweep, so a fraction it tests with every seed gets the sweep's verdict. It stops at
``budget`` × the sweep's model fits and reports the bracket it reached.

The interval is [largest fraction found unsafe, smallest found safe], widened by one step on a side decided by
the mean rather than at the confidence. Plain Python: the chains run through a ``Runner`` the caller gives
(collapse_guard.flows.safe_zone maps them over Prefect tasks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from collapse_guard.config import Params, SafeZoneParams
from collapse_guard.modality.base import Modality
from collapse_guard.records.anchor import AnchorSplit


@dataclass(frozen=True)
class ChainOutcome:
    """One fixed-ratio chain: its headline metrics at generation 0 and at generation G."""

    fraction: float
    seed: int
    start: dict[str, float]
    end: dict[str, float]
    fits: int
    realised_fraction: float = math.nan  # the real share of the last mixture (at least the target)

    def deviations(self) -> dict[str, float]:
        """|end / start − 1| per metric (|end − start| when the start is 0); a metric that is not a number at
        either end is left out."""
        out = {}
        for metric, before in self.start.items():
            after = self.end.get(metric, math.nan)
            if not (math.isfinite(before) and math.isfinite(after)):
                continue
            out[metric] = abs(after / before - 1) if before != 0 else abs(after - before)
        return out

    @property
    def deviation(self) -> float:
        """The worst headline metric's deviation (NaN when none could be measured)."""
        values = list(self.deviations().values())
        return max(values) if values else math.nan


# (fraction, seeds) -> one outcome per seed, in the seeds' order
Runner = Callable[[float, list[int]], list[ChainOutcome]]


@dataclass
class Probe:
    """One tested fraction: its chains and the decision taken."""

    fraction: float
    outcomes: list[ChainOutcome] = field(default_factory=list)
    verdict: str = ""  # "safe" or "unsafe"
    decided_by: str = ""  # "confidence" (a bound cleared the tolerance) or "mean" (every seed ran, or the budget)
    bound: tuple[float, float] = (math.nan, math.nan)  # the confidence bounds on the mean deviation at the decision

    @property
    def mean_deviation(self) -> float:
        values = [o.deviation for o in self.outcomes if math.isfinite(o.deviation)]
        return float(np.mean(values)) if values else math.nan

    def to_dict(self) -> dict:
        return {
            "fraction": self.fraction,
            "verdict": self.verdict,
            "decided_by": self.decided_by,
            "seeds": [o.seed for o in self.outcomes],
            "mean_deviation": self.mean_deviation,
            "bound": list(self.bound),
            "deviations": [o.deviation for o in self.outcomes],
        }


@dataclass
class SafeZone:
    """What the search (or the sweep) found."""

    r_star: float | None  # None: not even r = 1 kept the metrics within tolerance
    low: float
    high: float
    probes: list[Probe]
    fits: int
    sweep_fits: int  # what the full sweep at the same settings costs
    settings: SafeZoneParams
    metrics: tuple[str, ...]
    stopped_by_budget: bool = False
    method: str = "search"

    @property
    def certified(self) -> bool:
        return self.r_star is not None

    @property
    def compute_share(self) -> float:
        return self.fits / self.sweep_fits

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "r_star": self.r_star,
            "interval": [self.low, self.high],
            "fits": self.fits,
            "sweep_fits": self.sweep_fits,
            "compute_share": self.compute_share,
            "stopped_by_budget": self.stopped_by_budget,
            "metrics": list(self.metrics),
            "settings": self.settings.model_dump(),
            "probes": [p.to_dict() for p in self.probes],
        }


def grid(settings: SafeZoneParams) -> list[float]:
    """The fractions the sweep runs and the search may test: step, 2·step, ..., 1."""
    n = round(1 / settings.step)
    return [round(i * settings.step, 10) for i in range(1, n + 1)]


def seeds_of(settings: SafeZoneParams) -> list[int]:
    return list(range(settings.seeds))


def sweep_fits(settings: SafeZoneParams) -> int:
    return len(grid(settings)) * settings.seeds * (settings.generations + 1)


class _PooledSpread:
    """The within-fraction spread of the deviations, pooled over every fraction tested."""

    def __init__(self) -> None:
        self.sum_squares, self.dof = 0.0, 0

    def add(self, values: Sequence[float]) -> None:
        values = [v for v in values if math.isfinite(v)]
        if len(values) > 1:
            self.sum_squares += float(np.sum((np.asarray(values) - np.mean(values)) ** 2))
            self.dof += len(values) - 1

    def bounds(self, values: Sequence[float], confidence: float, extra: Sequence[float] = ()) -> tuple[float, float]:
        """One-sided ``confidence`` bounds on the mean of ``values`` (with ``extra``: the probe's own values not yet
        pooled); (−inf, inf) while no spread can be estimated."""
        from scipy.stats import t

        finite = [v for v in values if math.isfinite(v)]
        probe = _PooledSpread()
        probe.sum_squares, probe.dof = self.sum_squares, self.dof
        probe.add(extra)
        if probe.dof == 0 or not finite:
            return -math.inf, math.inf
        spread = math.sqrt(probe.sum_squares / probe.dof) / math.sqrt(len(finite))
        margin = float(t.ppf(confidence, probe.dof)) * spread
        mean = float(np.mean(finite))
        return mean - margin, mean + margin


def search(runner: Runner, settings: SafeZoneParams, metrics: tuple[str, ...], batch: int = 2) -> SafeZone:
    """Bisection over ``grid(settings)`` with sequential seeds (``batch`` chains at a time), within the budget."""
    fractions = grid(settings)
    seeds = seeds_of(settings)
    per_chain = settings.generations + 1
    budget = settings.budget * sweep_fits(settings)
    spread = _PooledSpread()
    probes: dict[int, Probe] = {}
    state = {"fits": 0, "stopped": False}

    def affordable(chains: int) -> bool:
        return state["fits"] + chains * per_chain <= budget

    def decide(index: int) -> Probe | None:
        probe = Probe(fractions[index])
        while len(probe.outcomes) < len(seeds):
            # two seeds first (a spread of its own), then ``batch`` at a time, as many as the budget allows
            wanted = min(max(batch, 1 if probe.outcomes else 2), len(seeds) - len(probe.outcomes))
            wanted = next((k for k in range(wanted, 0, -1) if affordable(k)), 0)
            if wanted == 0:
                state["stopped"] = True
                break
            todo = seeds[len(probe.outcomes) : len(probe.outcomes) + wanted]
            probe.outcomes += runner(probe.fraction, todo)
            state["fits"] += len(todo) * per_chain
            values = [o.deviation for o in probe.outcomes]
            low, high = spread.bounds(values, settings.confidence, extra=values)
            probe.bound = (low, high)
            if high <= settings.tolerance:
                probe.verdict, probe.decided_by = "safe", "confidence"
                break
            if low > settings.tolerance:
                probe.verdict, probe.decided_by = "unsafe", "confidence"
                break
        if not probe.outcomes:
            return None
        if not probe.verdict:
            mean = probe.mean_deviation
            probe.verdict = "safe" if math.isfinite(mean) and mean <= settings.tolerance else "unsafe"
            probe.decided_by = "mean"
        spread.add([o.deviation for o in probe.outcomes])
        probes[index] = probe
        return probe

    lo, hi = -1, len(fractions) - 1  # lo: largest index found unsafe (-1: none), hi: smallest safe (top: untested)
    while hi - lo > 1 and not state["stopped"]:
        mid = (lo + hi) // 2
        probe = decide(mid)
        if probe is None:
            break
        if probe.verdict == "safe":
            hi = mid
        else:
            lo = mid
    if hi == len(fractions) - 1 and hi not in probes and not state["stopped"]:
        decide(hi)  # r = 1 was assumed safe: test it before certifying it
    return _result(fractions, probes, lo, hi, state["fits"], settings, metrics, state["stopped"], "search")


def sweep(runner: Runner, settings: SafeZoneParams, metrics: tuple[str, ...]) -> SafeZone:
    """The full sweep: every fraction of the grid with every seed; r* is the smallest fraction from which on the
    mean deviation stays within tolerance."""
    fractions = grid(settings)
    probes = {}
    for index, fraction in enumerate(fractions):
        probe = Probe(fraction, runner(fraction, seeds_of(settings)))
        mean = probe.mean_deviation
        probe.verdict = "safe" if math.isfinite(mean) and mean <= settings.tolerance else "unsafe"
        probe.decided_by = "mean"
        probes[index] = probe
    unsafe = [i for i, p in probes.items() if p.verdict == "unsafe"]
    lo = max(unsafe) if unsafe else -1
    return _result(fractions, probes, lo, lo + 1, sweep_fits(settings), settings, metrics, False, "sweep")


def _result(
    fractions: list[float],
    probes: dict[int, Probe],
    lo: int,
    hi: int,
    fits: int,
    settings: SafeZoneParams,
    metrics: tuple[str, ...],
    stopped: bool,
    method: str,
) -> SafeZone:
    top = len(fractions) - 1
    hi_probe = probes.get(hi)
    certified = hi <= top and hi_probe is not None and hi_probe.verdict == "safe"
    r_star = fractions[hi] if certified else None
    low_index = lo
    if lo >= 0 and probes[lo].decided_by == "mean" and method == "search":
        low_index = lo - 1  # an unsafe verdict by the mean alone: the step below may be the answer
    high_index = min(hi, top)
    if certified and hi_probe.decided_by == "mean" and method == "search":
        high_index = min(hi + 1, top)
    low = fractions[low_index] if low_index >= 0 else 0.0
    high = fractions[high_index] if certified else 1.0
    ordered = [probes[i] for i in sorted(probes)] if method == "sweep" else list(probes.values())
    return SafeZone(r_star, low, high, ordered, fits, sweep_fits(settings), settings, metrics, stopped, method)


def certificate_body(
    zone: SafeZone,
    *,
    anchor: dict,
    model_class: str,
    model_options: dict,
    modality: str,
    synthetic_per_generation: int,
    decoding: dict,
    mlflow_run_id: str,
    figure: str,
) -> dict:
    """The ledger's ``safe_fraction_certified`` body: r*, its interval and the evidence it rests on (what
    ``gate.min_real_fraction: auto`` checks before using it)."""
    return {
        "r_star": zone.r_star,
        "interval": [zone.low, zone.high],
        "anchor": anchor,
        "model_class": model_class,
        "model_options": model_options,
        "modality": modality,
        "metrics": list(zone.metrics),
        "tolerance": zone.settings.tolerance,
        "generations": zone.settings.generations,
        "confidence": zone.settings.confidence,
        "step": zone.settings.step,
        "seeds": sorted({o.seed for p in zone.probes for o in p.outcomes}),
        "synthetic_per_generation": synthetic_per_generation,
        "decoding": decoding,
        "fits": zone.fits,
        "sweep_fits": zone.sweep_fits,
        "probes": [p.to_dict() for p in zone.probes],
        "mlflow_run_id": mlflow_run_id,
        "figure": figure,
    }


def search_params(params: Params) -> Params:
    """The workspace's params as the search runs them: the distribution metrics off (no headline metric reads
    them, and they are most of an evaluation's time)."""
    return params.model_copy(
        update={"evaluation": params.evaluation.model_copy(update={"distribution_metrics": False})}
    )


def run_chain(params: Params, anchor: AnchorSplit, modality: Modality, fraction: float, seed: int) -> ChainOutcome:
    """One fixed-ratio chain at real share ``fraction`` on the workspace's anchor, model, decoding and batch size
    (what a guarded run would train), through the experiment's chain (collapse_guard.pipeline.experiment)."""
    from collapse_guard.pipeline.experiment import ChainSpec, simulate_chain

    settings = params.experiment.safe_zone
    spec = ChainSpec(
        "fixed-ratio",
        seed,
        settings.generations,
        params.generation.synthetic_per_generation,
        real_fraction=fraction,
        kind="sweep",
    )
    result = simulate_chain(
        spec, anchor, model=params.model, mixing=params.mixing, decoding=params.decoding, modality=modality
    )
    return outcome_of(fraction, seed, result.rows, modality.headline)


def outcome_of(fraction: float, seed: int, rows: list[dict], metrics: tuple[str, ...]) -> ChainOutcome:
    """A chain's result rows (collapse_guard.pipeline.experiment) as an outcome: generation 0 against the last."""
    first, last = rows[0], rows[-1]
    return ChainOutcome(
        fraction=fraction,
        seed=seed,
        start={m: float(first.get(m, math.nan)) for m in metrics},
        end={m: float(last.get(m, math.nan)) for m in metrics},
        fits=len(rows),
        realised_fraction=float(last.get("real_fraction", math.nan)),
    )


def probes_table(zone: SafeZone) -> list[dict]:
    """One row per chain of every probe: for the CSV and the figure."""
    rows = []
    for probe in zone.probes:
        for outcome in probe.outcomes:
            rows.append(
                {
                    "fraction": probe.fraction,
                    "seed": outcome.seed,
                    "verdict": probe.verdict,
                    "decided_by": probe.decided_by,
                    "deviation": outcome.deviation,
                    "realised_fraction": outcome.realised_fraction,
                    **{f"{m}_start": v for m, v in outcome.start.items()},
                    **{f"{m}_end": v for m, v in outcome.end.items()},
                }
            )
    return rows
