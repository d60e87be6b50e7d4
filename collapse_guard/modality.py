"""What differs between kinds of data (tables, text), behind one interface the pipeline calls.

Why one seam: the defences are the same for every kind of data (a growing real anchor, provenance,
curation, a gated mixture, collapse metrics), but what a near-copy is, how collapse is measured and
which extra checks the gate runs are not. The flows and tasks call a ``Modality``; only this module
and ``collapse_guard.text.modality`` know which kind they serve.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, Params
from collapse_guard.curation import CurationReport, curate
from collapse_guard.drift import DriftSummary, drift_report
from collapse_guard.evaluation import Evaluation, anchor_tail, evaluate
from collapse_guard.models.base import Generator
from collapse_guard.provenance import numeric_columns

# (model, seed) -> (the numbers, the samples they were computed on)
Evaluator = Callable[[Generator, int], tuple[Evaluation, pd.DataFrame]]


@dataclass(frozen=True)
class Incoming:
    """New data of unknown quality, triaged: what may join the anchor, and what was turned away and why."""

    records: pd.DataFrame  # stamped as real, ready to append
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per turned-away item, with ``reason``


class Modality(abc.ABC):
    """One kind of data. Built once from the validated params and passed down."""

    name: str
    # what the shared ``tail_coverage`` and ``variance_ratio`` columns mean for this kind, in summaries
    headline_labels: tuple[str, str] = ("tail cov", "var ratio")
    figure_metrics: dict[str, str] | None = None  # metric -> title in the experiment's figure (None: tabular set)

    def __init__(self, params: Params) -> None:
        self.params = params

    def prepare_workspace(self) -> list[str]:
        """Create what this kind of data needs in a new workspace (e.g. a watermark key); what was made."""
        return []

    @abc.abstractmethod
    def initial_anchor(self) -> pd.DataFrame:
        """The first real anchor, stamped with provenance: the embedded default or ``data.source``."""

    @abc.abstractmethod
    def incoming(self, path: Path, anchor: pd.DataFrame) -> Incoming:
        """Read new real data from ``path`` (all or nothing: a malformed file raises DataError naming it)."""

    @abc.abstractmethod
    def synthesize(
        self,
        model: Generator,
        n: int,
        decoding: DecodingParams,
        seed: int,
        anchor: pd.DataFrame,
        *,
        generation: int,
        model_id: str,
        run_id: str,
    ) -> tuple[pd.DataFrame, CurationReport]:
        """Sample ``n`` records from ``model``, stamp their provenance and curate them against ``anchor``."""

    @abc.abstractmethod
    def evaluator(self, anchor_train: pd.DataFrame, held_out: pd.DataFrame, decoding: DecodingParams) -> Evaluator:
        """Collapse metrics of a model sampled with ``decoding``, against this anchor (what depends only on
        the anchor is computed once)."""

    @abc.abstractmethod
    def drift(self, samples: pd.DataFrame, reference: pd.DataFrame, html_path: Path) -> DriftSummary:
        """The Evidently report of ``samples`` against real ``reference`` records, and its summary."""

    def tracking_params(self) -> dict[str, str | float]:
        """What a run records about this kind's settings beyond params.yaml (never a secret)."""
        return {}

    def gate_flags(self, anchor: pd.DataFrame) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
        """Extra derived ``_`` columns this kind's gate suites assert on (None: none)."""
        return None

    def gate_parameters(self) -> dict:
        """Values for the ``$PARAMETER`` placeholders of this kind's suites."""
        return {}


class TabularModality(Modality):
    """Numeric and categorical columns; the embedded default is a 2-D mixture with rare modes."""

    name = "tabular"

    def initial_anchor(self) -> pd.DataFrame:
        from collapse_guard import anchor
        from collapse_guard.default_data import sample_default
        from collapse_guard.provenance import stamp_real

        data = self.params.data
        if data.source == "embedded":
            features = sample_default(
                data.embedded.rows, data.embedded.rare_weight, np.random.default_rng(self.params.run.seed)
            )
            return stamp_real(features, origin=f"embedded-default:v1:seed={self.params.run.seed}")
        source = self.params.resolve(data.source)
        from collapse_guard.versioning import file_origin

        return anchor.as_real_records(anchor.read_records(source), origin=file_origin(data.source, source))

    def incoming(self, path: Path, anchor: pd.DataFrame) -> Incoming:
        from collapse_guard.anchor import as_real_records, read_records
        from collapse_guard.versioning import file_origin

        return Incoming(as_real_records(read_records(path), origin=file_origin(Path(path).name, path)))

    def synthesize(self, model, n, decoding, seed, anchor, *, generation, model_id, run_id):  # noqa: ANN001, ANN201
        raw = model.sample(n, decoding, seed)
        return curate(
            raw,
            anchor,
            generation=generation,
            model_id=model_id,
            run_id=run_id,
            near_copy_radius=self.params.curation.near_copy_radius,
        )

    def evaluator(self, anchor_train: pd.DataFrame, held_out: pd.DataFrame, decoding: DecodingParams) -> Evaluator:
        settings = self.params.evaluation
        region = anchor_tail(anchor_train[numeric_columns(anchor_train)], settings)

        def run(model: Generator, seed: int) -> tuple[Evaluation, pd.DataFrame]:
            return evaluate(model, anchor_train, held_out, settings, decoding, seed, region=region)

        return run

    def drift(self, samples: pd.DataFrame, reference: pd.DataFrame, html_path: Path) -> DriftSummary:
        return drift_report(samples, reference, html_path, self.params.evaluation)


def modality_for(params: Params) -> Modality:
    """The modality ``data.modality`` names."""
    if params.data.modality == "text":
        from collapse_guard.text.modality import TextModality

        return TextModality(params)
    return TabularModality(params)
