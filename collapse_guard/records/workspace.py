"""Where everything lives in a workspace, what state the pipeline is in, and how a workspace starts.

The ledger is the single source of truth for state: the last recorded generation, its model and the
anchor the pipeline vouched for all come from it, so there is no second state file to drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from collapse_guard.config import Params
from collapse_guard.errors import LedgerTampered
from collapse_guard.records import anchor as anchor_mod
from collapse_guard.records import ledger


@dataclass(frozen=True)
class GenerationPaths:
    dir: Path

    @property
    def synthetic(self) -> Path:
        return self.dir / "synthetic.parquet"

    @property
    def mixture(self) -> Path:
        return self.dir / "mixture.parquet"

    @property
    def model(self) -> Path:
        return self.dir / "model.pt"

    @property
    def gate(self) -> Path:
        return self.dir / "gate.json"

    @property
    def gate_html(self) -> Path:
        """Great Expectations' human-readable page of the gate's validation (collapse_guard/pipeline/data_docs.py)."""
        return self.dir / "gate.html"

    @property
    def metrics(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def drift_html(self) -> Path:
        return self.dir / "drift.html"

    @property
    def drift_json(self) -> Path:
        """The drift report as data (collapse_guard/reports/drift.py writes it beside the HTML)."""
        return self.dir / "drift.json"

    def drift_report(self) -> Path | None:
        """The drift report this generation has: its page, else its values (``evaluation.drift_report: summary``),
        else None (``off``)."""
        return next((path for path in (self.drift_html, self.drift_json) if path.exists()), None)


def generation_paths(params: Params, generation: int) -> GenerationPaths:
    return GenerationPaths(params.resolve(params.paths.generations_dir) / f"gen_{generation:03d}")


def promotion_page(params: Params, generation: int) -> Path:
    """Great Expectations' page of a generation's promotion check. Not in the generation's folder: that folder is
    signed before the check runs, and a file added to it would break its signature."""
    return params.resolve(params.paths.reports_dir) / "verdicts" / f"promotion-gen_{generation:03d}.html"


@dataclass(frozen=True)
class PipelineState:
    last_generation: int | None
    model_id: str
    model_path: Path | None
    model_class: str
    recorded_anchor: anchor_mod.AnchorRecord | None
    history: tuple[dict, ...] = ()  # metrics of the recorded generations, oldest first
    last_target: float | None = None  # the real share the mixing policy aimed at last time

    @property
    def next_generation(self) -> int:
        return 0 if self.last_generation is None else self.last_generation + 1


def pipeline_state(params: Params) -> PipelineState:
    problems = ledger.verify(params.ledger_path)
    if problems:
        raise LedgerTampered("; ".join(problems), path=str(params.ledger_path))
    entries = ledger.read(params.ledger_path)
    recorded = ledger.latest(entries, *ledger.ANCHOR_RECORDING_KINDS)
    generation = ledger.latest(entries, "generation_recorded")
    anchor_record = None
    if recorded is not None:
        fields = recorded["body"]["anchor"]
        anchor_record = anchor_mod.AnchorRecord(**fields)
    if generation is None:
        return PipelineState(None, "", None, params.model.class_path, anchor_record)
    body = generation["body"]
    recorded_generations = [e["body"] for e in entries if e["kind"] == "generation_recorded"]
    return PipelineState(
        last_generation=body["generation"],
        model_id=body["model_id"],
        model_path=params.resolve(body["model_path"]),
        model_class=body["model_class"],
        recorded_anchor=anchor_record,
        history=tuple(b["metrics"] for b in recorded_generations),
        last_target=body["mixture"].get("target_real_fraction"),
    )


def relative(params: Params, path: Path) -> str:
    """A workspace path as written in messages, the ledger and MLflow: never a machine path."""
    return workspace_relative(params.workspace, path)


def workspace_relative(workspace: Path, path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(workspace).resolve()))
    except ValueError:
        return str(path)


def synthetic_batches(params: Params, before: int) -> list[Path]:
    """The curated synthetic batch of every generation from 1 to ``before`` - 1, oldest first. A generation
    trained outside the flow (``record-model``) made no batch here: its mixture's synthetic data is the team's."""
    elsewhere = {
        e["body"]["generation"]
        for e in ledger.read(params.ledger_path)
        if e["kind"] == "generation_recorded" and e["body"].get("trained") == "elsewhere"
    }
    return [generation_paths(params, g).synthetic for g in range(1, before) if g not in elsewhere]
