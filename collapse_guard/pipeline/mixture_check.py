"""A mixture made elsewhere, gated as the flow gates its own (``collapse-guard check``, ``Guard.check``).

A team's own data job writes the mixture it is about to train on (Parquet, CSV, or a folder of parts); this
module reads it, renames the team's own column names to the provenance columns (``check.columns`` in
params.yaml, ``--map their=ours``), and runs the very gate of the guarded flow against the workspace's anchor:
the same suites in expectations/, the same ``$PARAMETER`` values (the floors, the mixing policy's anchor
share), the modality's derived checks, and record-level binding of every record labelled real to the anchor
(laundering). Synthetic records made outside the workspace cannot be bound to a signed batch: they are
checked for their provenance (a model, a generation of 1 or more, an origin) like any other.

The anchor is only read. The verdict is recorded as the flow records its own: ``gate.json`` and GX's page
(under ``reports/checks/``), an MLflow run, and a ``mixture_checked`` ledger entry with the mixture's SHA-256
(of its bytes, or of its parts'), its records digest, the suites' digests and every value the gate applied.
``record-model`` later accepts a model trained on a mixture only if such an entry (or the flow's own gate)
passed it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from collapse_guard.config import Params
from collapse_guard.errors import AnchorIntegrityError, ConfigError, DataError
from collapse_guard.modality.base import Modality
from collapse_guard.pipeline import binding, data_docs, gate, payloads, trust
from collapse_guard.pipeline.mixing import FILE_COLUMN, Mixture, MixtureSummary, anchor_share_floor, summarise
from collapse_guard.records import atomic, ledger, signing, tracking
from collapse_guard.records.anchor import (
    AnchorRecord,
    AnchorSplit,
    ids_digest,
    load_split,
    read_records,
)
from collapse_guard.records.provenance import (
    MODEL_ID,
    ORIGIN,
    PROVENANCE_COLUMNS,
    RECORD_ID,
    SOURCE,
    SYNTHETIC,
    label_columns,
)
from collapse_guard.records.versioning import file_digest
from collapse_guard.records.workspace import pipeline_state, relative

CHECKED = "mixture_checked"  # the ledger kind of a check's verdict
POLICY = "external"  # how a mixture made elsewhere is named where the flow names its mixing policy
DATA_SUFFIXES = (".parquet", ".pq", ".csv")
IN_MEMORY = "a data frame in memory"
SHOWN_MODEL_IDS = 20  # the synthetic records' model ids a check keeps (record-model finds a parent among them)


@dataclass(frozen=True)
class MixtureInput:
    """A mixture as the gate reads it: records under the provenance columns' names, each row naming its file."""

    label: str  # how messages, the ledger and MLflow name it (workspace-relative when inside the workspace)
    frame: pd.DataFrame = field(repr=False)
    sha256: str = ""  # of the file's bytes (a folder: of its parts' names and digests); "" for a frame in memory
    parts: tuple[str, ...] = ()
    columns_mapped: dict[str, str] = field(default_factory=dict)


def column_mapping(configured: Mapping[str, str], given: Mapping[str, str] | None = None) -> dict[str, str]:
    """A team's column names -> the provenance (or label) columns they stand for: ``check.columns`` with
    ``given`` (``--map``) on top. Every target must be a column the data model defines, once."""
    mapping = {**configured, **(given or {})}
    known = (*PROVENANCE_COLUMNS, *label_columns())
    unknown = {their: ours for their, ours in mapping.items() if ours not in known}
    if unknown:
        named = ", ".join(f"{their}={ours}" for their, ours in unknown.items())
        raise ConfigError(
            f"check.columns / --map: {named} names no provenance column (they are: {', '.join(known)})",
            path="params.yaml check.columns",
        )
    targets = list(mapping.values())
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise ConfigError(f"check.columns / --map: more than one column maps to {repeated}")
    return {their: ours for their, ours in mapping.items() if their != ours}


def parse_map(items: list[str]) -> dict[str, str]:
    """``["their=ours", ...]`` (the ``--map`` option) as a mapping; a malformed item is a ConfigError."""
    mapping = {}
    for item in items:
        their, sep, ours = item.partition("=")
        if not sep or not their.strip() or not ours.strip():
            raise ConfigError(f"--map {item!r}: expected THEIR=OURS, e.g. --map id=record_id")
        mapping[their.strip()] = ours.strip()
    return mapping


def read_mixture(path: Path, mapping: Mapping[str, str], label: str) -> MixtureInput:
    """A Parquet or CSV file, or a folder of such parts (read in name order; files whose name starts with
    ``_`` or ``.`` are skipped, as Spark's and pyarrow's markers), with the team's columns renamed."""
    path = Path(path)
    if path.is_dir():
        files = part_files(path)
        frames = [
            _read_part(file, mapping).assign(**{FILE_COLUMN: f"{label}/{file.relative_to(path)}"}) for file in files
        ]
        columns = {tuple(f.columns) for f in frames}
        if len(columns) > 1:
            raise DataError("the parts of the mixture do not have the same columns", path=str(path))
        frame = pd.concat(frames, ignore_index=True)
        parts = tuple(str(file.relative_to(path)) for file in files)
    elif path.is_file():
        frame = _read_part(path, mapping).assign(**{FILE_COLUMN: label})
        parts = ()
    else:
        raise DataError("the mixture is not there (a Parquet or CSV file, or a folder of them)", path=str(path))
    return MixtureInput(label, frame, mixture_sha256(path), parts, dict(mapping))


def from_frame(frame: pd.DataFrame, mapping: Mapping[str, str], label: str = IN_MEMORY) -> MixtureInput:
    """A mixture held in memory (``Guard.check`` on a data frame): no file, so no SHA-256; its records digest
    names it."""
    return MixtureInput(label, _renamed(frame, mapping, label).assign(**{FILE_COLUMN: label}), "", (), dict(mapping))


def part_files(folder: Path) -> list[Path]:
    files = sorted(
        p
        for p in Path(folder).rglob("*")
        if p.is_file()
        and p.suffix.lower() in DATA_SUFFIXES
        and not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    )
    if not files:
        raise DataError("the folder holds no Parquet or CSV part", path=str(folder))
    return files


def mixture_sha256(path: Path) -> str:
    """A file's SHA-256; a folder's: ``folder_sha256`` of its parts."""
    path = Path(path)
    return file_digest(path, "sha256") if path.is_file() else folder_sha256(path, part_files(path))


def folder_sha256(folder: Path, files: list[Path]) -> str:
    """The SHA-256 of ``files``' names (relative to ``folder``) and SHA-256s, one ``name NUL digest`` line each."""
    lines = [f"{file.relative_to(folder).as_posix()}\0{file_digest(file, 'sha256')}\n" for file in sorted(files)]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _read_part(path: Path, mapping: Mapping[str, str]) -> pd.DataFrame:
    if path.suffix.lower() != ".csv":
        return _renamed(read_records(path), mapping, str(path))
    # CSV keeps no types: ids and model ids stay text, and an empty model id (a real record's) stays empty
    text = {their for their, ours in mapping.items() if ours in (RECORD_ID, MODEL_ID, ORIGIN, SOURCE)}
    text |= {c for c in (RECORD_ID, MODEL_ID, ORIGIN, SOURCE, *label_columns()) if c not in mapping.values()}
    try:
        frame = pd.read_csv(path, dtype={c: str for c in text}, float_precision="round_trip")  # ids hash the bytes
    except Exception as exc:  # the csv parser raises many types for a malformed file
        raise DataError(f"cannot read data file ({type(exc).__name__}: {exc})", path=str(path)) from exc
    frame = _renamed(frame, mapping, str(path))
    empty_allowed = [c for c in (MODEL_ID, *label_columns()) if c in frame]
    return frame.fillna({c: "" for c in empty_allowed})


def _renamed(frame: pd.DataFrame, mapping: Mapping[str, str], where: str) -> pd.DataFrame:
    missing = [their for their in mapping if their not in frame.columns]
    if missing:
        raise DataError(f"check.columns / --map name columns the mixture lacks: {missing}", path=where)
    clash = [ours for their, ours in mapping.items() if ours in frame.columns]
    if clash:
        raise DataError(f"the mixture has {clash} already, and a mapped column would replace it", path=where)
    return frame.rename(columns=dict(mapping))


@dataclass(frozen=True)
class CheckOutcome:
    """A check's decision (nothing written yet): the verdict and what it was about."""

    verdict: gate.GateVerdict
    mixture: MixtureInput
    summary: MixtureSummary
    records_digest: str  # collapse_guard.records.anchor.ids_digest of the record ids, in file order
    sorted_ids_sha256: str  # the record ids' commitment, as signed statements name a mixture
    anchor: AnchorRecord
    model_ids: tuple[str, ...]  # the synthetic records' model ids (a few)

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def digest(self) -> str:
        """What ``record-model --mixture`` takes: the file's SHA-256, or the records digest of a frame."""
        return self.mixture.sha256 or self.records_digest


def read_anchor(params: Params) -> AnchorSplit:
    """The workspace's anchor, read only: in a signed workspace it must be its signed version (a check never
    restores it; ``collapse-guard run`` or ``init`` do)."""
    keys = trust.workspace_keys(params)
    if keys is not None:
        differences = trust.anchor_differences(params, keys)
        if differences:
            raise AnchorIntegrityError(differences, path=relative(params, params.anchor_path))
    return load_split(params.anchor_path, params.data.holdout_fraction)


def check(params: Params, modality: Modality, mixture: MixtureInput) -> CheckOutcome:
    """The flow's gate on ``mixture`` against the workspace's anchor (the ledger is verified first)."""
    state = pipeline_state(params)
    anchor = read_anchor(params)
    anchor_file = relative(params, params.anchor_path)
    frame = mixture.frame
    verdict = gate.evaluate(
        anchor=anchor.frame,
        mixture=frame,
        recorded_anchor=state.recorded_anchor,
        min_real_fraction=params.gate.min_real_fraction,
        expectations_dir=params.resolve(params.paths.expectations_dir),
        anchor_path=anchor_file,
        mixture_path=mixture.label,
        modality=modality.name,
        extra_flags=modality.gate_flags(anchor),
        extra_parameters=modality.gate_parameters(),
        extra_failures=binding.binding_failures(frame, anchor.frame[RECORD_ID], None, anchor_file),
        held_out=anchor.frame[RECORD_ID].isin(anchor.held_out[RECORD_ID]).to_numpy(),
        min_anchor_share=anchor_share_floor(params.mixing),
    )
    ids = frame[RECORD_ID].astype(str) if RECORD_ID in frame else pd.Series([], dtype=str)
    synthetic = frame[frame[SOURCE] == SYNTHETIC] if SOURCE in frame else frame.iloc[:0]
    model_ids = synthetic[MODEL_ID].dropna().astype(str).unique().tolist() if MODEL_ID in synthetic else []
    return CheckOutcome(
        verdict=verdict,
        mixture=mixture,
        summary=summarise(Mixture(frame), POLICY),
        records_digest=ids_digest(ids) if len(ids) else "",
        sorted_ids_sha256=signing.sorted_ids_digest(ids),
        anchor=anchor.record,
        model_ids=tuple(model_ids[:SHOWN_MODEL_IDS]),
    )


@dataclass(frozen=True)
class RecordedCheck:
    """Where a check's verdict was recorded."""

    outcome: CheckOutcome
    ledger_line: int
    mlflow_run_id: str
    gate_json: str  # workspace-relative
    gate_html: str

    def to_dict(self) -> dict[str, Any]:
        outcome = self.outcome
        return {
            "verdict": outcome.verdict.status,
            "failures": [str(f) for f in outcome.verdict.failures],
            "mixture": check_summary(outcome),
            "suites": dict(outcome.verdict.suites),
            "checks": payloads.gate_table(outcome.verdict),  # every expectation, passed or failed, in plain words
            "ledger_line": self.ledger_line,
            "mlflow_run_id": self.mlflow_run_id,
            "gate_json": self.gate_json,
            "gate_html": self.gate_html,
        }


def check_summary(outcome: CheckOutcome) -> dict[str, Any]:
    """The mixture as the ledger records it: its counts, file, digests and parts."""
    mixture = outcome.mixture
    return {
        **outcome.summary.to_dict(),
        "file": mixture.label,
        "sha256": mixture.sha256,
        "digest": outcome.records_digest,
        "sorted_ids_sha256": outcome.sorted_ids_sha256,
        "parts": list(mixture.parts),
        "columns_mapped": dict(mixture.columns_mapped),
        "synthetic_model_ids": list(outcome.model_ids),
    }


def record(params: Params, modality: Modality, outcome: CheckOutcome, by: str) -> RecordedCheck:
    """Write the verdict as the flow writes a gate's: ``gate.json`` and GX's page, an MLflow run, the ledger
    (``by``: who asked: ``check`` or ``api``)."""
    verdict = outcome.verdict
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = params.resolve(params.paths.reports_dir) / "checks" / f"{outcome.digest[:16] or 'empty'}-{stamp}"
    gate_json = folder / "gate.json"
    atomic.write_json(gate_json, {**verdict.to_dict(), "results": verdict.results})
    gate_html = data_docs.write_validation_page(
        folder / "gate.html", verdict.results, f"gate verdict, mixture {outcome.mixture.label}"
    )
    uri = params.tracking_uri
    experiment = tracking.experiment_id(
        uri, params.tracking.experiment_name, params.resolve(params.tracking.mlflow_artifacts)
    )
    run_id = tracking.start_run(
        uri, experiment, f"check-{outcome.digest[:12]}", tags={"collapse_guard.check": outcome.digest}
    )
    summary = outcome.summary
    tracking.log(
        uri,
        run_id,
        tags={"gate": verdict.status},
        params={
            "mixture": outcome.mixture.label,
            "mixture_sha256": outcome.mixture.sha256,
            "records_digest": outcome.records_digest,
            "checked_by": by,
            **{f"suite.{name}": digest for name, digest in verdict.suites.items()},
        },
        metrics={
            "gate_failures": len(verdict.failures),
            "mixture_rows": summary.rows,
            "real_fraction": summary.real_fraction,
        },
        artifacts=[p for p in (gate_json, gate_html) if p is not None],
    )
    tracking.finish(uri, run_id, "FINISHED" if verdict.passed else "FAILED")
    entry = ledger.append(
        params.ledger_path,
        CHECKED,
        {
            "verdict": verdict.status,
            "failures": [str(f) for f in verdict.failures],
            "anchor_observed": outcome.anchor.to_dict(),
            "mixture": check_summary(outcome),
            "mlflow_run_id": run_id,
            "gate_json": relative(params, gate_json),
            "by": by,
            "applied": payloads.applied(
                verdict.parameters, {**gate.CORE_SOURCES, **modality.gate_parameter_sources()}, verdict.suites
            ),
        },
    )
    return RecordedCheck(
        outcome,
        int(entry["seq"]),
        run_id,
        relative(params, gate_json),
        relative(params, gate_html) if gate_html else "",
    )
