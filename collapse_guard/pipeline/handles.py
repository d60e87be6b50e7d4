"""What the steps of a guarded generation hand each other: where a result was written, its digest, and the
object itself, so the next step neither re-reads nor re-builds it (and the flow reads as the data graph)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from collapse_guard.generator import Generator
from collapse_guard.modality.base import CurationReport, Modality
from collapse_guard.pipeline.mixing import MixtureSummary
from collapse_guard.pipeline.outcome import RunContext
from collapse_guard.pipeline.step import SeedSchedule
from collapse_guard.records.anchor import AnchorSplit
from collapse_guard.records.workspace import GenerationPaths, PipelineState, workspace_relative
from collapse_guard.reports.drift import DriftSummary


@dataclass(frozen=True)
class GenerationContext:
    """Built once per generation: the anchor (read once, split once), the modality, the paths and seeds.

    ``paths`` is where the steps write (the generation's staging folder, collapse_guard/records/staging.py);
    ``final_paths`` is where the folder appears when it is published, and the only path anything records."""

    generation: int
    workspace: Path
    run: RunContext
    mlflow_run_id: str
    state: PipelineState
    paths: GenerationPaths
    anchor: AnchorSplit = field(repr=False)
    anchor_file: str  # the anchor's path as messages and the ledger name it
    modality: Modality = field(repr=False)
    seeds: SeedSchedule
    final_paths: GenerationPaths | None = None  # None: written in place (no staging)

    @property
    def published(self) -> GenerationPaths:
        return self.final_paths or self.paths

    def relative(self, path: Path) -> str:
        """A workspace path as messages, the ledger and MLflow write it: never a machine path, and never the
        staging folder (a file written there is named where it will be once the generation is published)."""
        path = Path(path)
        if path.is_relative_to(self.paths.dir):
            path = self.published.dir / path.relative_to(self.paths.dir)
        return workspace_relative(self.workspace, path)


@dataclass(frozen=True)
class Batch:
    """A generation's curated synthetic records."""

    path: Path
    curation: CurationReport
    frame: pd.DataFrame = field(repr=False)

    def describe(self) -> str:
        report = self.curation
        dropped = ", ".join(f"{n:,} {reason.replace('_', ' ')}" for reason, n in report.dropped.items() if n)
        return f"{report.generated:,} generated, {report.kept:,} kept" + (f" (dropped {dropped})" if dropped else "")


@dataclass(frozen=True)
class MixtureHandle:
    path: Path
    summary: MixtureSummary
    digest: str  # sha256 over the record ids in file order (collapse_guard.records.anchor.ids_digest)
    frame: pd.DataFrame = field(repr=False)

    def describe(self) -> str:
        s = self.summary
        return (
            f"{s.rows:,} rows, {s.real:,} real + {s.synthetic:,} synthetic, real fraction {s.real_fraction:.2f} "
            f"({s.policy})"
        )


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    model_id: str  # generation + content hash: genNNN-<md5[:12]>
    model: Generator = field(repr=False)

    def describe(self) -> str:
        return f"model {self.model_id}"


@dataclass(frozen=True)
class Measured:
    """The collapse metrics of a trained model and its Evidently drift summary."""

    metrics: dict[str, float]
    drift: DriftSummary
    headline: tuple[str, ...] = ()  # the modality's headline metrics, which the step's log line reports

    def describe(self) -> str:
        shown = [*self.headline, "heldout_real_loss", "drift_share"]
        return ", ".join(f"{name} {self.metrics[name]:.3f}" for name in shown if name in self.metrics)
