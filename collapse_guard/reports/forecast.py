"""Collapse forecast: at this rate, in how many generations does a metric cross its floor?

Every collapse signal the pipeline logs is after the fact; a straight line through the last ``window``
generations of a metric, with its uncertainty, says what is coming. The method is kept plain on purpose
(ordinary least squares, Student-t prediction interval for a new observation), so a reviewer can redo it
by hand:

- the point forecast is the first generation at which the fitted line is past the floor;
- the interval runs from the first generation at which the prediction interval's optimistic-for-collapse
  bound is past the floor (``soonest``) to the first at which even its other bound is (``latest``; None when
  that does not happen within ``horizon``, i.e. the data cannot rule out "never").

A floor is crossed *below* for metrics that fall as a model collapses (tail coverage, rare-mode retention)
and *above* for metrics that rise (held-out loss): ``direction`` says which. A series already past its floor
forecasts 0.

A metric with a floor may have a *lead* (``forecast.leads``, e.g. tail coverage led by the held-out real loss):
its forecast is then the earlier of its own line and the lead's line toward a ceiling derived from the floor
(``lead_forecast``), because the lead moves earlier and more smoothly than the metric does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np

from collapse_guard.config import ForecastParams
from collapse_guard.records.alerts import COLLAPSE_FORECAST, Alert

Direction = Literal["below", "above"]
NOT_FORECAST = 1e6  # what MLflow logs as "generations until the floor" when no crossing is forecast


@dataclass(frozen=True)
class Forecast:
    metric: str
    floor: float
    direction: Direction
    last_generation: int
    last_value: float
    slope: float  # per generation, of the fitted line
    slope_se: float
    points: int  # generations the line was fitted on
    generations_until: float | None  # point forecast, counted from ``last_generation``; None: not within horizon
    soonest: float | None  # the prediction interval's bounds on it (None: not within horizon)
    latest: float | None
    # which line the crossing comes from: "trend" (the metric's own) or "lead: <metric>" (``lead_forecast``);
    # slope, last_value and points stay the metric's own either way
    basis: str = "trend"
    lead_ceiling: float | None = None  # the lead's ceiling L0 + ln(1/floor) when a lead is configured

    @property
    def crossing_generation(self) -> float | None:
        return None if self.generations_until is None else self.last_generation + self.generations_until

    def warns_within(self, generations: float) -> bool:
        """The alert's rule: the point forecast crosses the floor within ``generations``, and the trend is more
        than noise (even the interval's far bound crosses within the horizon). Without the second condition a
        healthy but noisy series raised an alert on one chain in two (benchmarks/forecast_validation.py)."""
        return self.generations_until is not None and self.generations_until <= generations and self.latest is not None

    def describe(self) -> str:
        side = "below" if self.direction == "below" else "above"
        if self.generations_until is None:
            return f"{self.metric}: no crossing {side} {self.floor:g} forecast (slope {self.slope:+.3f}/gen)"
        if self.generations_until == 0:
            return f"{self.metric}: already {side} its floor {self.floor:g} ({self.last_value:.3f})"
        latest = "never" if self.latest is None else f"{self.latest:g}"
        if self.basis == "trend":
            basis = f"slope {self.slope:+.3f}/gen over {self.points} generations"
        else:
            lead = self.basis.removeprefix("lead: ")
            basis = f"from {lead} rising toward {self.lead_ceiling:.3f}; own slope {self.slope:+.3f}/gen"
        return (
            f"{self.metric}: {side} {self.floor:g} in {self.generations_until:g} generation(s) "
            f"(interval {self.soonest:g} to {latest}; {basis})"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "crossing_generation": self.crossing_generation}


def forecast(
    metric: str,
    generations: Sequence[int],
    values: Sequence[float],
    floor: float,
    *,
    direction: Direction = "below",
    window: int = 5,
    level: float = 0.8,
    horizon: int = 50,
    half_life: float = 0.0,
) -> Forecast | None:
    """The forecast of one metric from its per-generation series (None with fewer than 3 finite points: a line
    through two points has no uncertainty to report).

    With ``half_life`` > 0 the line is fitted by discounted least squares: a generation ``half_life``
    generations older than the latest counts half as much. The noise model behind it: every point measures
    the current trend, older ones with a variance that doubles every ``half_life`` generations (the trend
    drifts), so the whole history sharpens the slope while the latest generations set it; 0 weighs the
    ``window`` points equally (ordinary least squares)."""
    g = np.asarray(generations, dtype=float)
    y = np.asarray(values, dtype=float)
    keep = np.isfinite(g) & np.isfinite(y)
    g, y = g[keep], y[keep]
    order = np.argsort(g)
    g, y = g[order][-window:], y[order][-window:]
    if len(g) < 3:
        return None
    # "below a floor" and "above a ceiling" are one problem after flipping the sign.
    sign = 1.0 if direction == "below" else -1.0
    z, bound = sign * y, sign * floor
    n = len(g)
    # precision weights relative to the latest generation's (1.0); all 1.0 is ordinary least squares
    weights = 0.5 ** ((g[-1] - g) / half_life) if half_life > 0 else np.ones(n)
    total = float(weights.sum())
    g_mean = float((weights * g).sum() / total)
    z_mean = float((weights * z).sum() / total)
    sxx = float((weights * (g - g_mean) ** 2).sum())
    slope = float((weights * (g - g_mean) * (z - z_mean)).sum() / sxx)
    intercept = z_mean - slope * g_mean
    residuals = z - (intercept + slope * g)
    s = math.sqrt(float((weights * residuals**2).sum()) / (n - 2))  # the noise of a latest-weight observation
    from scipy.stats import t as student_t

    quantile = float(student_t.ppf(0.5 + level / 2, n - 2))
    last = float(g[-1])
    ahead = np.arange(0, horizon + 1, dtype=float)
    future = last + ahead
    mean = intercept + slope * future
    half = quantile * s * np.sqrt(1 + 1 / total + (future - g_mean) ** 2 / sxx)
    past = z[-1] < bound  # the latest observation is already past the floor
    return Forecast(
        metric=metric,
        floor=floor,
        direction=direction,
        last_generation=int(last),
        last_value=float(y[-1]),
        slope=sign * slope,
        slope_se=s / math.sqrt(sxx),
        points=n,
        generations_until=0.0 if past else _first(ahead, mean < bound),
        soonest=0.0 if past else _first(ahead, mean - half < bound),
        latest=0.0 if past else _first(ahead, mean + half < bound),
    )


def _first(ahead: np.ndarray, crossed: np.ndarray) -> float | None:
    """The first generation ahead (1 or more: generation 0 ahead is the one observed) where ``crossed`` holds."""
    hits = np.flatnonzero(crossed[1:])
    return float(ahead[1:][hits[0]]) if len(hits) else None


def lead_forecast(
    own: Forecast,
    lead: str,
    generations: Sequence[int],
    values: Sequence[float],
    *,
    window: int,
    level: float,
    horizon: int,
    half_life: float = 0.0,
) -> Forecast:
    """``own`` (a metric's forecast below its floor f, a fraction) combined with its lead's series: the earlier of
    the two.

    The lead (the held-out real loss) is forecast with the same line, crossing *above* the ceiling
    L0 + ln(1/f), L0 its value at the first recorded generation (the model trained on real data). Why that
    ceiling: the loss's rise over generation 0 is the model's added divergence from the real data, in nats; a
    model that had lost a factor 1/f of its density on every real record would have exactly that loss, and its
    coverage would be at the floor f. The loss moves earlier and more smoothly than the coverage does.

    The metric's own value past its floor is 0 (already crossed); a lead past its ceiling while the metric is
    not forecasts the next generation (1), since only the metric itself can say "already". Otherwise the smaller
    ``generations_until`` wins (None: never; a tie keeps the own line), with that forecast's own interval."""
    series = sorted((int(g), float(v)) for g, v in zip(generations, values, strict=True) if math.isfinite(float(v)))
    if not series:
        return own
    ceiling = series[0][1] + math.log(1 / own.floor)
    marked = replace(own, lead_ceiling=ceiling)
    if own.generations_until == 0:
        return marked
    gens, vals = zip(*series, strict=True)
    ahead = forecast(
        lead,
        gens,
        vals,
        ceiling,
        direction="above",
        window=window,
        level=level,
        horizon=horizon,
        half_life=half_life,
    )
    if ahead is None or ahead.generations_until is None:
        return marked
    until, soonest, latest = ahead.generations_until, ahead.soonest, ahead.latest
    if until == 0:
        until = soonest = latest = 1.0
    if own.generations_until is not None and own.generations_until <= until:
        return marked
    return replace(marked, generations_until=until, soonest=soonest, latest=latest, basis=f"lead: {lead}")


def forecasts(
    history: Sequence[tuple[int, dict[str, float]]],
    floors: dict[str, float],
    ceilings: dict[str, float],
    *,
    window: int,
    level: float,
    horizon: int,
    half_life: float = 0.0,
    leads: dict[str, str] | None = None,
) -> list[Forecast]:
    """One forecast per metric with a floor (crossed below) or a ceiling (crossed above) found in ``history``
    ((generation, metrics) pairs, oldest first); metrics a modality lacks are skipped. A floor metric with a
    lead in ``leads`` found in ``history`` is combined with it (``lead_forecast``)."""
    found = []
    limits = [(name, value, "below") for name, value in floors.items()]
    limits += [(name, value, "above") for name, value in ceilings.items()]
    line = {"window": window, "level": level, "horizon": horizon, "half_life": half_life}
    for name, limit, direction in limits:
        generations, values = _series(history, name)
        if not generations:
            continue
        made = forecast(name, generations, values, limit, direction=direction, **line)
        if made is None:
            continue
        lead = (leads or {}).get(name) if direction == "below" else None
        if lead is not None:
            lead_generations, lead_values = _series(history, lead)
            if lead_generations:
                made = lead_forecast(made, lead, lead_generations, lead_values, **line)
        found.append(made)
    return found


def _series(history: Sequence[tuple[int, dict[str, float]]], name: str) -> tuple[list[int], list[float]]:
    """The generations recording ``name`` and its values there."""
    series = [(g, m[name]) for g, m in history if m.get(name) is not None]
    return [g for g, _ in series], [v for _, v in series]


# -- a workspace's forecast: from its ledger, to MLflow and the alerts --------------------------------------
def recorded_history(entries: list[dict]) -> list[tuple[int, dict[str, float]]]:
    """(generation, metrics) of every recorded generation in ledger order (a generation recorded twice, after a
    recovery, keeps its last record)."""
    by_generation: dict[int, dict[str, float]] = {}
    for entry in entries:
        if entry.get("kind") == "generation_recorded":
            by_generation[int(entry["body"]["generation"])] = entry["body"].get("metrics") or {}
    return sorted(by_generation.items())


def for_history(history: Sequence[tuple[int, dict[str, float]]], settings: ForecastParams) -> list[Forecast]:
    return forecasts(
        history,
        settings.floors,
        settings.ceilings,
        window=settings.window,
        level=settings.level,
        horizon=settings.horizon,
        half_life=settings.half_life,
        leads=settings.leads,
    )


def tracked_metrics(made: list[Forecast]) -> dict[str, float]:
    """What MLflow gets per generation: generations until each floor (``NOT_FORECAST`` when no crossing is
    forecast: MLflow metrics are numbers, and a large one keeps the series plottable), and the slope."""
    logged: dict[str, float] = {}
    for item in made:
        until = NOT_FORECAST if item.generations_until is None else item.generations_until
        logged[f"forecast_{item.metric}_generations"] = until
        logged[f"forecast_{item.metric}_slope"] = item.slope
    return logged


def forecast_alerts(made: list[Forecast], within: float, file: str = "") -> list[Alert]:
    """An alert for each metric the forecast says crosses its floor within ``within`` generations (0: off); a
    metric already past its floor is the floors' alert (``alerts.metric_floors``), not this one's."""
    if within <= 0:
        return []
    return [
        Alert(COLLAPSE_FORECAST, item.last_generation, item.describe(), file)
        for item in made
        if item.warns_within(within) and item.generations_until != 0
    ]
