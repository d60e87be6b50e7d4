"""What differs between kinds of data (tables, text), behind one interface the pipeline calls.

Why one seam: the defences are the same for every kind of data (a growing real anchor, provenance,
curation, a gated mixture, collapse metrics), but what a near-copy is, how collapse is measured and
which extra checks the gate runs are not. The flows and tasks call a ``Modality``; this module imports
no modality (``collapse_guard.modality.registry`` maps names to implementations).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, Params
from collapse_guard.generator import Generator
from collapse_guard.modality.metric_catalog import MetricInfo
from collapse_guard.records.anchor import AnchorSplit
from collapse_guard.reports.drift import DriftSummary


@dataclass(frozen=True)
class CurationReport:
    """How many generated records were kept, and how many were dropped for each reason."""

    generated: int
    kept: int
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count, in the order the reasons apply

    @classmethod
    def from_masks(cls, keep: np.ndarray, drops: Mapping[str, np.ndarray]) -> CurationReport:
        """``drops`` are disjoint boolean masks, one per reason (a record counts under its first reason)."""
        return cls(len(keep), int(keep.sum()), {reason: int(mask.sum()) for reason, mask in drops.items()})

    def to_dict(self) -> dict[str, int]:
        """Flat, as MLflow and the ledger record it: ``generated``, ``kept`` and ``dropped_<reason>``."""
        return {"generated": self.generated, "kept": self.kept, **{f"dropped_{r}": n for r, n in self.dropped.items()}}


@dataclass(frozen=True)
class Evaluation:
    """The collapse metrics of one model. ``headline`` names the two numbers summaries show first: the
    modality's early-collapse signal (the tail) and its late-collapse signal (the spread)."""

    metrics: dict[str, float]
    headline: tuple[str, str]
    diagnostics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, float]:
        """Flat: the model's own diagnostics sit beside the metrics."""
        return {**self.diagnostics, **self.metrics}


@dataclass(frozen=True)
class Incoming:
    """New data of unknown quality, triaged: what may join the anchor, and what was turned away and why."""

    records: pd.DataFrame  # stamped as real, ready to append
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per turned-away item, with ``reason``


# (model, seed) -> (the numbers, the samples they were computed on)
Evaluator = Callable[[Generator, int], tuple[Evaluation, pd.DataFrame]]
# one independent part of an evaluation: () -> some of its metrics (picklable: it may run on a Dask worker)
MetricJob = Callable[[], dict[str, float]]
# (named jobs, the evaluation's size in rows) -> each job's metrics, by name
MetricRunner = Callable[[Mapping[str, MetricJob], int], dict[str, dict[str, float]]]


def run_here(jobs: Mapping[str, MetricJob], rows: int = 0) -> dict[str, dict[str, float]]:
    """The default ``MetricRunner``: every job in this process, one after the other."""
    return {name: job() for name, job in jobs.items()}


def run_merged(runner: MetricRunner, jobs: Mapping[str, MetricJob], rows: int) -> dict[str, float]:
    """``runner``'s results as one dict of metrics, in the jobs' order whatever order the parts finished in."""
    parts = runner(jobs, rows)
    return {name: value for job in jobs for name, value in parts[job].items()}


def heldout_loss(model: Generator, held_out: pd.DataFrame) -> dict[str, float]:
    """A ``MetricJob``: the model's mean negative log-likelihood of real records it never saw, in nats."""
    return {"heldout_real_loss": model.loss(held_out)}


# (synthetic pool, how many to choose, real records, rng) -> the chosen synthetic records
Selector = Callable[[pd.DataFrame, int, pd.DataFrame, np.random.Generator], pd.DataFrame]


def uniform_choice(pool: pd.DataFrame, k: int, real: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``k`` records of ``pool`` chosen uniformly, in pool order (the default ``Selector``)."""
    return pool.iloc[np.sort(rng.choice(len(pool), size=k, replace=False))].reset_index(drop=True)


# Evaluation measures the model as it learned, not the decoding that made the next generation's data:
# one rule for the guarded run and the experiment alike (a decoding's bias shows in the curated batch).
EVALUATION_DECODING = DecodingParams()


class Modality(abc.ABC):
    """One kind of data. Built once per command from the validated params and passed down; what depends on
    one anchor version only (a near-duplicate index, a tail region) is built once per anchor version."""

    name: str
    headline: tuple[str, str]  # metric names: the early-collapse (tail) signal, then the spread signal
    headline_labels: tuple[str, str]  # how summaries title them
    figure_metrics: dict[str, str]  # metric -> title in the experiment's figure
    metric_catalog: Mapping[str, MetricInfo]  # every metric this kind records: what it means (the docs' reference)
    door_checks_tables: bool = False  # real data arrives as a table the ``incoming`` suite validates (pipeline.door)

    def __init__(self, params: Params) -> None:
        """An implementation keeps ``params`` as its own ``Params`` subclass, the one that adds its section (text:
        ``ParamsWithText.of(params)``), so that section is typed in it and read nowhere else."""
        self.params = params

    def prepare_workspace(self) -> list[str]:
        """Create what this kind of data needs in a new workspace (e.g. a watermark key); what was made."""
        return []

    def check_keys(self) -> None:
        """Raise SigningKeyError unless every key this kind of data uses (e.g. a watermark key) is the one the
        workspace recorded, readable by its owner only: run before a command writes anything."""
        return None

    @abc.abstractmethod
    def initial_anchor(self) -> pd.DataFrame:
        """The first real anchor, stamped with provenance: the embedded default or ``data.source``."""

    @abc.abstractmethod
    def incoming(self, path: Path, anchor: pd.DataFrame, hasher: Callable | None = None) -> Incoming:
        """Read new real data from ``path`` (all or nothing: a malformed file raises DataError naming it).
        ``hasher`` hashes the incoming batches of a kind that screens them by hashing (text: a
        collapse_guard.text.screening.BatchHasher, on Dask from collapse_guard.tasks.record_hashing); None: in
        this process."""

    def anchor_written(self, anchor: pd.DataFrame) -> list[Path]:
        """Files derived from the anchor (e.g. text's near-duplicate index), brought up to the anchor just
        written; they are versioned with it. None by default."""
        return []

    @abc.abstractmethod
    def synthesize(
        self,
        model: Generator,
        n: int,
        decoding: DecodingParams,
        seed: int,
        anchor: AnchorSplit,
        *,
        generation: int,
        model_id: str,
        run_id: str,
        hasher: Callable | None = None,
    ) -> tuple[pd.DataFrame, CurationReport]:
        """Sample ``n`` records from ``model``, stamp their provenance and curate them against ``anchor``.
        ``hasher`` runs the per-record hashing of a kind whose curation hashes records (text: a
        collapse_guard.text.screening.DocumentHasher, on Dask from collapse_guard.tasks.record_hashing); a kind
        that hashes nothing ignores it."""

    @abc.abstractmethod
    def evaluator(self, anchor: AnchorSplit, runner: MetricRunner = run_here) -> Evaluator:
        """Collapse metrics of a model (sampled with ``EVALUATION_DECODING``) against this anchor: its train
        split as the reference, its held-out split as the real data never trained on. ``runner`` decides
        where the evaluation's independent parts run (``tasks.cluster.DaskMetrics``: on Dask when big)."""

    @abc.abstractmethod
    def drift(
        self,
        samples: pd.DataFrame,
        reference: pd.DataFrame,
        html_path: Path,
        recorded: Mapping[str, float] | None = None,
    ) -> DriftSummary:
        """The Evidently report of ``samples`` against real ``reference`` records, and its summary. ``recorded``:
        the evaluation's metrics, shown in the report with their values (never recomputed another way); an
        estimator of the report's own goes in ``DriftSummary.estimates`` under its own name."""

    def select(self, pool: pd.DataFrame, k: int, real: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Choose ``k`` synthetic records of ``pool`` for a fixed real share: uniformly, unless the kind has a
        geometry to favour thin regions with."""
        return uniform_choice(pool, k, real, rng)

    def sample_figures(
        self, samples: Mapping[str, Mapping[int, pd.DataFrame]], anchor: AnchorSplit, out_dir: Path
    ) -> list[Path]:
        """The experiment's pictures of the samples themselves (policy -> generation -> samples), if any."""
        return []

    def tracking_params(self) -> dict[str, str | float]:
        """What a run records about this kind's settings beyond params.yaml (never a secret)."""
        return {}

    def gate_flags(self, anchor: AnchorSplit) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
        """Extra derived ``_`` columns this kind's gate suites assert on (None: none)."""
        return None

    def gate_parameters(self) -> dict:
        """Values for the ``$PARAMETER`` placeholders of this kind's suites."""
        return {}

    def gate_parameter_sources(self) -> dict[str, str]:
        """Where each of ``gate_parameters`` comes from (e.g. "params.yaml text.gate.x"), as the ledger records it."""
        return {}
