"""Tables as a modality of the guarded pipeline: numeric and categorical columns, a Gaussian mixture model.

What tables bring to the shared pipeline (see collapse_guard.modality.base): the embedded default is a
2-D mixture with rare modes; curation drops exact and near-copies in the anchor's standardised units;
fixed-ratio mixing favours regions where the synthetic pool is thin; collapse is headlined by rare-region
retention (how much of the anchor's rare modes a model still produces) and the variance ratio; drift by
Evidently's per-column tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, Params
from collapse_guard.generator import Generator
from collapse_guard.modality.base import (
    CurationReport,
    Evaluation,
    Evaluator,
    Incoming,
    MetricRunner,
    Modality,
    run_here,
)
from collapse_guard.modality.metric_catalog import COMMON
from collapse_guard.records.anchor import AnchorSplit, as_real_records, read_records
from collapse_guard.records.provenance import feature_columns, numeric_columns, stamp_real
from collapse_guard.records.versioning import file_origin
from collapse_guard.reports import figures
from collapse_guard.reports.drift import DriftSummary
from collapse_guard.tabular.column_kinds import column_kinds, kind_flags
from collapse_guard.tabular.curation import curate, select_diverse
from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.evaluation import HEADLINE, anchor_regions, anchor_tail, evaluate, reference_rows
from collapse_guard.tabular.metric_catalog import TABULAR_METRICS
from collapse_guard.tabular.metrics.modes import ModeMap, anchor_modes
from collapse_guard.tabular.metrics.regions import RareRegions
from collapse_guard.tabular.metrics.tails import TailRegion
from collapse_guard.tabular.params import ParamsWithTabular

FIGURE_METRICS = {
    "rare_region_retention": "rare-region retention (1 = real)",
    "tail_coverage": "tail coverage (1 = real)",
    "variance_ratio": "variance ratio (1 = real)",
    "heldout_real_loss": "held-out real NLL",
    "recall": "k-NN recall",
    "mmd2": "MMD²",
    "vendi_score": "Vendi score",
}


def in_anchor_layout(frame: pd.DataFrame, anchor: pd.DataFrame) -> pd.DataFrame:
    """New real rows with the anchor's feature columns in the anchor's order and of its types (the door has
    checked that names and values fit), so that equal values hash to equal ids."""
    features = feature_columns(anchor)
    if set(frame.columns) != set(features):
        return frame  # anchor.append names the difference
    ordered = frame[features].copy()
    for column in features:
        if ordered[column].dtype != anchor[column].dtype:
            ordered[column] = ordered[column].astype(anchor[column].dtype)
    return ordered


class TabularModality(Modality):
    """Numeric and categorical columns; the embedded default is a 2-D mixture with rare modes."""

    name = "tabular"
    headline = HEADLINE
    headline_labels = ("rare region", "var ratio")
    figure_metrics = FIGURE_METRICS
    metric_catalog = {**COMMON, **TABULAR_METRICS}
    door_checks_tables = True
    params: ParamsWithTabular

    def __init__(self, params: Params) -> None:
        super().__init__(ParamsWithTabular.of(params))  # params loaded for another modality: tabular's defaults
        self._tails: dict[str, TailRegion] = {}  # anchor digest -> its tail region (quadratic to build)
        self._modes: dict[str, ModeMap | None] = {}  # anchor digest -> its clustered modes
        self._regions: dict[str, RareRegions | None] = {}  # anchor digest -> its rare regions

    def initial_anchor(self) -> pd.DataFrame:
        data, embedded = self.params.data, self.params.tabular.embedded
        if data.source == "embedded":
            features = sample_default(embedded.rows, embedded.rare_weight, np.random.default_rng(self.params.run.seed))
            return stamp_real(features, origin=f"embedded-default:v1:seed={self.params.run.seed}")
        source = self.params.resolve(data.source)
        return as_real_records(read_records(source), origin=file_origin(data.source, source))

    def incoming(self, path: Path, anchor: pd.DataFrame, hasher: Callable | None = None) -> Incoming:
        frame = in_anchor_layout(read_records(path), anchor)
        return Incoming(as_real_records(frame, origin=file_origin(Path(path).name, path)))

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
        return curate(
            model.sample(n, decoding, seed),
            anchor.frame,
            generation=generation,
            model_id=model_id,
            run_id=run_id,
            near_copy_radius=self.params.tabular.near_copy_radius,
        )

    def select(self, pool: pd.DataFrame, k: int, real: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        return select_diverse(pool, k, real, rng)

    def evaluator(self, anchor: AnchorSplit, runner: MetricRunner = run_here) -> Evaluator:
        features = feature_columns(anchor.train)
        cap = self.params.evaluation.max_reference_rows
        train, held_out = reference_rows(anchor.train[features], cap), reference_rows(anchor.held_out[features], cap)
        region = self.tail_region(anchor)
        numeric = numeric_columns(anchor.train)
        if anchor.digest not in self._modes:  # clustering the anchor is linear in its rows: once per anchor version
            rare_share = self.params.evaluation.rare_share
            self._modes[anchor.digest] = anchor_modes(train[numeric], rare_share=rare_share) if numeric else None
        modes = self._modes[anchor.digest]
        regions = self.rare_regions(anchor)

        def run(model: Generator, seed: int) -> tuple[Evaluation, pd.DataFrame]:
            return evaluate(
                model,
                train,
                held_out,
                self.params.evaluation,
                seed,
                region=region,
                modes=modes,
                runner=runner,
                regions=regions,
            )

        return run

    def rare_regions(self, anchor: AnchorSplit) -> RareRegions | None:
        """The rare regions of the anchor's train split (None without numeric columns), built once per anchor
        version: the density clustering and the mixture fits take seconds at the row cap."""
        if anchor.digest not in self._regions:
            numeric = numeric_columns(anchor.train)
            train = reference_rows(anchor.train[numeric], self.params.evaluation.max_reference_rows)
            self._regions[anchor.digest] = anchor_regions(train, self.params.evaluation) if numeric else None
        return self._regions[anchor.digest]

    def tail_region(self, anchor: AnchorSplit) -> TailRegion:
        """The tail of the anchor's train split, built once per anchor version."""
        if anchor.digest not in self._tails:
            train = anchor.train[numeric_columns(anchor.train)]
            self._tails[anchor.digest] = anchor_tail(train, self.params.evaluation)
        return self._tails[anchor.digest]

    def sample_figures(self, samples, anchor: AnchorSplit, out_dir: Path) -> list[Path]:
        """For 2-D data, a scatter per policy and generation with the samples in the anchor's rare regions (the
        headline's rare events) in red."""
        features = numeric_columns(anchor.train)
        if len(features) != 2 or not samples:
            return []
        regions = self.rare_regions(anchor)

        def in_rare_region(frame: pd.DataFrame) -> np.ndarray:
            return regions.assign(frame[features]) >= 0

        return [figures.rare_event_scatter(samples, in_rare_region, out_dir / "rare_events.png")]

    def gate_flags(self, anchor: AnchorSplit) -> Callable[[pd.DataFrame], pd.DataFrame]:
        """``_kind_breach``: the first column whose value breaks the anchor's column kinds (types suite)."""
        return kind_flags(column_kinds(anchor.frame[feature_columns(anchor.frame)]))

    def drift(
        self,
        samples: pd.DataFrame,
        reference: pd.DataFrame,
        html_path: Path,
        recorded: Mapping[str, float] | None = None,
    ) -> DriftSummary:
        from collapse_guard.tabular.evidently_metrics import drift_report  # Evidently: slow to import

        capped = reference_rows(reference, self.params.evaluation.max_reference_rows)
        return drift_report(samples, capped, html_path, self.params.evaluation, recorded)
