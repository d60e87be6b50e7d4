"""The Python API for a pipeline collapse-guard did not build: gate its mixtures, label its data, record its models.

A team's own data job and training job call this where the guarded flow would run its own steps::

    from collapse_guard import Guard

    guard = Guard.from_params("params.yaml")          # the workspace: its anchor, ledger, suites, MLflow
    real = guard.anchor()                             # the anchor's training split: every mixture keeps it
    synthetic = guard.stamp(frame, source="synthetic", generation=1, model_id="gen000-...")
    result = guard.check(pd.concat([real, synthetic]))  # the flow's gate; raises GateBlocked (exit 4) if blocked
    ...                                               # train on the mixture that passed, where the GPUs are
    guard.record_model("model.pt", mixture=result.digest)   # signed, registered, evaluated, in the ledger

Every method does what the matching command does (``collapse-guard check``, ``record-model``) and records the
same way; the errors are the command's, as exceptions (collapse_guard.errors: ``GateBlocked`` is exit 4,
``MixtureNotGated`` exit 14, ...). docs/guard-your-pipeline.md walks through a whole pipeline.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from collapse_guard.config import Params
from collapse_guard.errors import CollapseGuardError, ConfigError, DataError, GateBlocked
from collapse_guard.modality.registry import load_params
from collapse_guard.pipeline.model_record import RecordedModel
from collapse_guard.records.provenance import PROVENANCE_COLUMNS, REAL, SYNTHETIC

__all__ = ["CheckResult", "Guard", "RecordedModel"]


@dataclass(frozen=True)
class CheckResult:
    """A mixture's verdict as the gate gave it and the ledger recorded it."""

    passed: bool
    digest: str  # what record_model(mixture=...) takes: the file's SHA-256, or the records digest of a frame
    sha256: str  # of the file's bytes (a folder: of its parts); "" for a frame in memory
    records_digest: str  # SHA-256 over the record ids in order (collapse_guard.records.anchor.ids_digest)
    failures: list[str]
    suites: dict[str, str]  # suite name -> SHA-256 of the file that was run
    ledger_line: int
    mlflow_run_id: str
    gate_json: str  # workspace-relative
    summary: dict[str, Any] = field(default_factory=dict)  # rows, real, synthetic, real fraction, file, parts
    checks: list[dict[str, str]] = field(default_factory=list)  # every expectation: suite, check, result, detail


class Guard:
    """One workspace (its params.yaml), for a pipeline that builds its own mixtures and trains its own models."""

    def __init__(self, params: Params) -> None:
        self.params = params

    @classmethod
    def from_params(cls, path: str | Path = "params.yaml") -> Guard:
        """The workspace of ``path`` (a ConfigError, exit 2, if it is missing or invalid). Run
        ``collapse-guard init`` once before: it makes the anchor, the ledger and the keys."""
        return cls(load_params(path))

    # -- what a mixture is made of ------------------------------------------------------------------------------
    def anchor(self, split: Literal["train", "held_out", "all"] = "train") -> pd.DataFrame:
        """The real anchor's records with their provenance (read only). A mixture keeps all of ``train`` (when
        the workspace's mixing policy keeps the anchor) and none of ``held_out`` (the evaluation's real data)."""
        from collapse_guard.pipeline.mixture_check import read_anchor

        with self._explained():
            anchor = read_anchor(self.params)
        return {"train": anchor.train, "held_out": anchor.held_out, "all": anchor.frame}[split].copy()

    def stamp(
        self,
        frame: pd.DataFrame,
        *,
        source: Literal["real", "synthetic"],
        generation: int,
        model_id: str = "",
        origin: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """``frame`` (features only) with the provenance columns in front, as the flow stamps its records: a
        content-hash ``record_id``, ``source``, ``generation``, the ``model_id`` that made a synthetic record,
        ``created_at`` and ``origin`` (default: the model id). ``labels`` are a modality's label columns (text:
        ``watermark_key_id`` and ``decoding``). Real records must be the anchor's (``anchor()``): real data
        enters through ``collapse-guard ingest``, and a real record the anchor lacks is blocked as laundered."""
        from collapse_guard.records.provenance import stamp

        if source not in (REAL, SYNTHETIC):
            raise ConfigError(f"source must be 'real' or 'synthetic', not {source!r}")
        if source == SYNTHETIC and (generation < 1 or not model_id):
            raise ConfigError(
                "a synthetic record needs the generation it is for (1 or more) and the model_id that made it"
            )
        stamped_already = [c for c in PROVENANCE_COLUMNS if c in frame.columns]
        if stamped_already:
            raise DataError(f"the frame has provenance columns already ({stamped_already}): stamp features only")
        return stamp(
            frame,
            source=source,
            generation=generation,
            model_id=model_id if source == SYNTHETIC else "",
            origin=origin or model_id or "outside collapse-guard",
            labels=dict(labels) if labels else None,
        )

    def synthesize(self, model_file: str | Path, n: int, *, seed: int | None = None) -> pd.DataFrame:
        """``n`` records sampled from a model recorded in this workspace (``record_model``), as the flow makes a
        generation's synthetic data: with the workspace's decoding and watermark (text), stamped for the next
        generation with the model's recorded id, and curated (near-copies and unwatermarked text dropped; the
        counts are in ``.attrs["curation"]``). A model the ledger does not record is refused (DataError)."""
        from collapse_guard.generator import load_generator
        from collapse_guard.modality.registry import modality_for
        from collapse_guard.pipeline.mixture_check import read_anchor
        from collapse_guard.pipeline.step import SeedSchedule
        from collapse_guard.records.workspace import pipeline_state

        with self._explained():
            state = pipeline_state(self.params)
            recorded = self._recorded(Path(model_file))
            generator = load_generator(recorded["model_class"] or self.params.model.class_path, Path(model_file))
            generation = state.next_generation
            kept, report = modality_for(self.params).synthesize(
                generator,
                n,
                self.params.decoding,
                SeedSchedule(self.params.run.seed).generate(generation) if seed is None else seed,
                read_anchor(self.params),
                generation=generation,
                model_id=recorded["model_id"],
                run_id=f"synthesize-{uuid.uuid4().hex[:12]}",
            )
        kept.attrs["curation"] = report.to_dict()
        return kept

    # -- the gate ----------------------------------------------------------------------------------------------
    def check(self, mixture: pd.DataFrame | str | Path, *, columns: Mapping[str, str] | None = None) -> CheckResult:
        """Gate ``mixture`` (a data frame, or a Parquet/CSV file or folder of parts) as the flow gates its own,
        against the workspace's anchor (read only), and record the verdict (ledger, MLflow, ``reports/checks/``).
        ``columns`` maps your column names to the provenance columns (on top of ``check.columns``). Returns the
        verdict when it passed; raises GateBlocked (its ``failures`` and ``outcome``) when it blocked."""
        from collapse_guard.modality.registry import modality_for
        from collapse_guard.pipeline import mixture_check
        from collapse_guard.records.workspace import relative

        params = self.params
        with self._explained(), self._held("Guard.check"):
            modality = modality_for(params)
            mapping = mixture_check.column_mapping(params.check.columns, columns)
            if isinstance(mixture, pd.DataFrame):
                given = mixture_check.from_frame(mixture, mapping)
            else:
                path = Path(mixture)
                given = mixture_check.read_mixture(path, mapping, relative(params, path))
            recorded = mixture_check.record(params, modality, mixture_check.check(params, modality, given), by="api")
        return checked(recorded)

    # -- a model trained elsewhere -----------------------------------------------------------------------------
    def record_model(
        self,
        model: str | Path,
        *,
        mixture: str | Path,
        model_class: str | None = None,
        evaluate: bool = True,
        parent: str | None = None,
    ) -> RecordedModel:
        """Record ``model`` (a file, a folder, or a URI MLflow downloads) as the workspace's next generation,
        trained on ``mixture`` (its file, or the digest ``check`` returned). Refused with MixtureNotGated
        (exit 14) unless the gate passed that mixture. Signed like the flow's models, registered in MLflow as a
        candidate, and evaluated like any generation when ``model_class`` (default: the workspace's
        ``model.class``) can sample; ``evaluate=False`` records a model only its own code reads."""
        from collapse_guard.modality.registry import modality_for
        from collapse_guard.pipeline.model_record import record_model

        with self._explained(), self._held("Guard.record_model"):
            return record_model(
                self.params,
                modality_for(self.params),
                model=str(model),
                mixture=str(mixture),
                model_class=model_class,
                evaluate=evaluate,
                parent=parent,
                by="api",
            )

    # -- plumbing ----------------------------------------------------------------------------------------------
    def _recorded(self, model_file: Path) -> dict[str, Any]:
        from collapse_guard.records import ledger
        from collapse_guard.records.versioning import file_digest

        if not model_file.is_file():
            raise DataError("model file not found", path=str(model_file))
        digest = file_digest(model_file, "sha256")
        for entry in reversed(ledger.read(self.params.ledger_path)):
            body = entry["body"]
            if entry["kind"] != "generation_recorded":
                continue
            recorded = body.get("model_sha256")
            if recorded is None:
                path = self.params.resolve(body["model_path"])
                recorded = file_digest(path, "sha256") if path.is_file() else ""
            if recorded == digest:
                return body
        raise DataError(
            "this model is not recorded in the workspace: record it first (`collapse-guard record-model`), so the "
            "synthetic records it makes name a model the ledger knows",
            path=str(model_file),
        )

    @contextlib.contextmanager
    def _held(self, what: str) -> Iterator[None]:
        from collapse_guard.records.lock import workspace_lock

        with workspace_lock(self.params.workspace, what, self.params.run.lock_wait_seconds):
            yield

    @contextlib.contextmanager
    def _explained(self) -> Iterator[None]:
        """A library's exception (MLflow down, a full disk) as the named cause the CLI would report."""
        try:
            yield
        except CollapseGuardError:
            raise
        except Exception as error:
            from collapse_guard.pipeline.causes import named_cause

            cause = named_cause(error, self.params)
            if cause is None:
                raise
            raise cause from error


def checked(recorded: Any) -> CheckResult:
    """A recorded check (collapse_guard.pipeline.mixture_check.RecordedCheck) as the API's result; GateBlocked,
    with the same facts, when the gate blocked the mixture."""
    outcome = recorded.outcome
    result = CheckResult(
        passed=outcome.passed,
        digest=outcome.digest,
        sha256=outcome.mixture.sha256,
        records_digest=outcome.records_digest,
        failures=[str(f) for f in outcome.verdict.failures],
        suites=dict(outcome.verdict.suites),
        ledger_line=recorded.ledger_line,
        mlflow_run_id=recorded.mlflow_run_id,
        gate_json=recorded.gate_json,
        summary=recorded.to_dict()["mixture"],
        checks=recorded.to_dict()["checks"],
    )
    if result.passed:
        return result
    error = GateBlocked(
        f"the gate blocked the mixture {outcome.mixture.label}: {len(result.failures)} check(s) failed; nothing "
        f"should train on it (verdict in the ledger, line {result.ledger_line})",
        failures=result.failures,
        outcome=recorded.to_dict(),
        path=recorded.gate_json,
    )
    error.details = recorded.to_dict()
    raise error
