"""The safe real fraction: the smallest share of real records r* that keeps a model healthy, certified.

Healthy means: after ``experiment.safe_zone.generations`` (G) generations of the ``fixed-ratio`` policy at real
share r, on the workspace's own anchor, model, decoding and batch size, every headline collapse metric of the
modality (tables: tail coverage and variance ratio) is expected within ``tolerance`` of its generation-0 value:
|mean over seeds of (metric_G / metric_0 − 1)| ≤ tolerance for each metric. The change is signed before it is
averaged, so the seed-to-seed noise of a metric averages out instead of reading as drift; what remains is the
systematic drift collapse brings. r* is the smallest multiple of ``step`` from which on that holds (more real
data is taken never to hurt).

The full sweep answers that by running every multiple of ``step`` with ``seeds`` chains each (``sweep``). The
search (``search``) answers it at a fraction of the cost: a bisection over the same grid, each tested fraction
deciding with sequential seeds, "safe" as soon as a two-sided ``confidence`` interval of every metric's mean
change lies inside ±tolerance and "unsafe" as soon as one lies outside (the spread of each metric's change is
pooled over every fraction tested, so two seeds can decide a fraction far from r*), or by the means once
``seeds`` chains ran (the sweep's own rule). It uses the same seeds as the sweep, so a fraction it tests with
every seed gets the sweep's verdict. It stops at ``budget`` × the sweep's model fits and reports the bracket
it reached.

The interval is [largest fraction found unsafe, smallest found safe], widened by one step on a side decided by
the means rather than at the confidence. Plain Python: the chains run through a ``Runner`` the caller gives
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

    def changes(self) -> dict[str, float]:
        """end / start − 1 per metric (end − start when the start is 0); NaN when either end is not a number."""
        out = {}
        for metric, before in self.start.items():
            after = self.end.get(metric, math.nan)
            if not (math.isfinite(before) and math.isfinite(after)):
                out[metric] = math.nan
            else:
                out[metric] = after / before - 1 if before != 0 else after - before
        return out


# (fraction, seeds) -> one outcome per seed, in the seeds' order
Runner = Callable[[float, list[int]], list[ChainOutcome]]


@dataclass
class Probe:
    """One tested fraction: its chains and the decision taken."""

    fraction: float
    outcomes: list[ChainOutcome] = field(default_factory=list)
    verdict: str = ""  # "safe" or "unsafe"
    decided_by: str = ""  # "confidence" (an interval cleared the tolerance) or "mean" (every seed ran, or the budget)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # per metric, at the decision

    def changes(self, metric: str) -> list[float]:
        return [o.changes().get(metric, math.nan) for o in self.outcomes]

    def mean_change(self, metric: str) -> float:
        values = [v for v in self.changes(metric) if math.isfinite(v)]
        return float(np.mean(values)) if values else math.nan

    def worst(self, metrics: Sequence[str]) -> float:
        """The largest |mean change| over ``metrics`` (NaN when none could be measured)."""
        values = [abs(self.mean_change(m)) for m in metrics if math.isfinite(self.mean_change(m))]
        return max(values) if values else math.nan

    def to_dict(self) -> dict:
        """Plain JSON (a number that is not finite, e.g. an interval not yet bounded, is null)."""
        metrics = list(self.outcomes[0].start) if self.outcomes else []
        return {
            "fraction": self.fraction,
            "verdict": self.verdict,
            "decided_by": self.decided_by,
            "seeds": [o.seed for o in self.outcomes],
            "mean_change": {m: _finite(self.mean_change(m)) for m in metrics},
            "bounds": {m: [_finite(v) for v in b] for m, b in self.bounds.items()},
            "changes": {m: [_finite(v) for v in self.changes(m)] for m in metrics},
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _by_means(probe: Probe, metrics: Sequence[str], tolerance: float) -> str:
    worst = probe.worst(metrics)
    return "safe" if math.isfinite(worst) and worst <= tolerance else "unsafe"


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
    """Each metric's within-fraction spread of the changes, pooled over every fraction tested."""

    def __init__(self, metrics: Sequence[str]) -> None:
        self.sum_squares = dict.fromkeys(metrics, 0.0)
        self.dof = dict.fromkeys(metrics, 0)

    def add(self, probe: Probe) -> None:
        for metric in self.sum_squares:
            values = [v for v in probe.changes(metric) if math.isfinite(v)]
            if len(values) > 1:
                self.sum_squares[metric] += float(np.sum((np.asarray(values) - np.mean(values)) ** 2))
                self.dof[metric] += len(values) - 1

    def bounds(self, probe: Probe, confidence: float) -> dict[str, tuple[float, float]]:
        """Per metric, a two-sided ``confidence`` interval of the probe's mean change, its own seeds pooled in
        with the fractions already decided; (−inf, inf) while no spread can be estimated."""
        from scipy.stats import t

        out = {}
        mine = _PooledSpread(list(self.sum_squares))
        mine.add(probe)
        for metric in self.sum_squares:
            values = [v for v in probe.changes(metric) if math.isfinite(v)]
            dof = self.dof[metric] + mine.dof[metric]
            if dof == 0 or not values:
                out[metric] = (-math.inf, math.inf)
                continue
            spread = math.sqrt((self.sum_squares[metric] + mine.sum_squares[metric]) / dof / len(values))
            margin = float(t.ppf(0.5 + confidence / 2, dof)) * spread
            mean = float(np.mean(values))
            out[metric] = (mean - margin, mean + margin)
        return out


def search(runner: Runner, settings: SafeZoneParams, metrics: tuple[str, ...], batch: int = 2) -> SafeZone:
    """Bisection over ``grid(settings)`` with sequential seeds (``batch`` chains at a time), within the budget."""
    fractions = grid(settings)
    seeds = seeds_of(settings)
    per_chain = settings.generations + 1
    budget = settings.budget * sweep_fits(settings)
    tolerance = settings.tolerance
    spread = _PooledSpread(metrics)
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
            probe.bounds = spread.bounds(probe, settings.confidence)
            intervals = list(probe.bounds.values())
            if all(-tolerance <= low and high <= tolerance for low, high in intervals):
                probe.verdict, probe.decided_by = "safe", "confidence"
                break
            if any(low > tolerance or high < -tolerance for low, high in intervals):
                probe.verdict, probe.decided_by = "unsafe", "confidence"
                break
        if not probe.outcomes:
            return None
        if not probe.verdict:
            probe.verdict, probe.decided_by = _by_means(probe, metrics, tolerance), "mean"
        spread.add(probe)
        probes[index] = probe
        return probe

    top = len(fractions) - 1
    lo, hi = -1, top  # lo: largest index found unsafe (-1: none), hi: smallest found safe (top: not yet tested)
    while hi - lo > 1 and not state["stopped"]:
        if hi == top and top not in probes and not affordable(4):
            break  # the budget left is r = 1's: every fraction tried so far was unsafe
        mid = (lo + hi) // 2
        probe = decide(mid)
        if probe is None:
            break
        if probe.verdict == "safe":
            hi = mid
        else:
            lo = mid
    if hi == top and top not in probes and affordable(1):
        decide(top)  # r = 1 was assumed safe: test it before certifying it
    return _result(fractions, probes, lo, hi, state["fits"], settings, metrics, state["stopped"], "search")


def sweep(runner: Runner, settings: SafeZoneParams, metrics: tuple[str, ...]) -> SafeZone:
    """The full sweep: every fraction of the grid with every seed; r* is the smallest fraction from which on
    every metric's mean change stays within tolerance."""
    fractions = grid(settings)
    probes = {}
    for index, fraction in enumerate(fractions):
        probe = Probe(fraction, runner(fraction, seeds_of(settings)))
        probe.verdict, probe.decided_by = _by_means(probe, metrics, settings.tolerance), "mean"
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
                    "realised_fraction": outcome.realised_fraction,
                    **{f"{m}_start": v for m, v in outcome.start.items()},
                    **{f"{m}_end": v for m, v in outcome.end.items()},
                }
            )
    return rows


def describe(zone: SafeZone, summary: dict) -> list[str]:
    """The result as the terminal shows it (``summary``: where the table, figure, MLflow run and ledger line are)."""
    s = zone.settings
    if zone.certified:
        head = f"r* = {zone.r_star:.2f}   interval [{zone.low:.2f}, {zone.high:.2f}]"
    else:
        head = "no real fraction up to 1 kept the metrics within tolerance: nothing certified"
    lines = [
        head,
        f"  every headline metric ({', '.join(zone.metrics)}) expected within {s.tolerance:.0%} of generation 0 after "
        f"{s.generations} fixed-ratio generations; decisions at {s.confidence:.0%} confidence",
        f"  {zone.fits} model fits = {zone.compute_share:.0%} of the full sweep's {zone.sweep_fits} "
        f"({len(grid(s))} fractions × {s.seeds} seeds × {s.generations + 1} fits)"
        + ("; stopped at the budget" if zone.stopped_by_budget else ""),
    ]
    for probe in zone.probes:
        changes = ", ".join(f"{m} {100 * probe.mean_change(m):+.1f} %" for m in zone.metrics)
        lines.append(
            f"  r = {probe.fraction:.2f}: {probe.verdict:<6} by {probe.decided_by:<10} ({len(probe.outcomes)} seeds) "
            f"mean change {changes}"
        )
    lines += [f"  figure: {summary['figure']}", f"  table:  {summary['tables']['chains']}"]
    lines.append(f"  MLflow run: {summary['mlflow_run_id']}")
    if summary.get("ledger_line"):
        lines.append(
            f"  ledger line {summary['ledger_line']}: safe_fraction_certified "
            "(gate.min_real_fraction: auto uses it, plus gate.auto_margin)"
        )
    return lines
