"""A model trained outside the guarded flow, recorded against the gated mixture it was trained on
(``collapse-guard record-model``, ``Guard.record_model``).

A team's model trains on its own machines; the audit trail must not end there. A model is recorded only if its
mixture passed the gate: a ``mixture_checked`` entry (``collapse-guard check``) or a ``gate_verdict`` of the
flow that passed the mixture's digest (its file's SHA-256, or its records digest). Anything else is refused
with MixtureNotGated (exit 14), naming why. A recorded model becomes the workspace's next generation, as the
flow records its own: a generation folder (the model, the check's gate verdict, metrics and drift report when
evaluated, a signed statement of what it was trained on), versioned by DVC, an MLflow run with the model
registered as a candidate version, and a ``generation_recorded`` ledger entry marked ``trained: elsewhere``.
So ``audit show``, the audit page and the evidence bundle show it like any generation.

It is evaluated like any generation when its class can sample (a collapse_guard.generator.Generator: the
workspace's ``model.class`` unless another is named); a model of another kind (a checkpoint only its own code
reads) is recorded and signed without metrics.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collapse_guard.config import Params
from collapse_guard.errors import ConfigError, DataError, MixtureNotGated
from collapse_guard.generator import Generator, load_generator
from collapse_guard.modality.base import Modality
from collapse_guard.pipeline import payloads, trust
from collapse_guard.pipeline.mixing import MixtureSummary
from collapse_guard.pipeline.mixture_check import CHECKED, POLICY, folder_sha256, mixture_sha256, read_anchor
from collapse_guard.pipeline.step import SeedSchedule
from collapse_guard.records import atomic, attestation, ledger, registry, staging, tracking, versioning
from collapse_guard.records.anchor import AnchorRecord
from collapse_guard.records.provenance import feature_columns
from collapse_guard.records.versioning import file_digest, file_md5
from collapse_guard.records.workspace import generation_paths, pipeline_state, relative

TRAINED_ELSEWHERE = "elsewhere"
GATE_KINDS = (CHECKED, "gate_verdict")
MIN_PREFIX = 12  # a digest may be given by a unique prefix of at least this many hex digits
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class GatedMixture:
    """The ledger entry in which the gate passed a mixture."""

    kind: str  # mixture_checked | gate_verdict
    seq: int
    body: dict[str, Any] = field(repr=False)

    @property
    def mixture(self) -> dict[str, Any]:
        return self.body.get("mixture") or {}


def mixture_digest(value: str) -> str:
    """``--mixture``: a Parquet or CSV file (or folder of parts) whose SHA-256 is computed, or a digest (or a
    prefix of one, at least 12 hex digits)."""
    if Path(value).exists():
        return mixture_sha256(Path(value))
    digest = value.strip().lower()
    if len(digest) < MIN_PREFIX or not _HEX.match(digest):
        raise ConfigError(
            f"--mixture {value!r} is neither a mixture file nor a digest (at least {MIN_PREFIX} hex digits: the "
            "SHA-256 `collapse-guard check` prints)"
        )
    return digest


def _named(body: dict[str, Any], digest: str) -> set[str]:
    """The mixture's digests (file SHA-256, records digest) that ``digest`` (or a prefix of it) names."""
    mixture = body.get("mixture") or {}
    return {str(mixture[key]) for key in ("sha256", "digest") if str(mixture.get(key) or "").startswith(digest)}


def passing_verdict(entries: list[dict[str, Any]], digest: str, ledger_label: str) -> GatedMixture:
    """The last entry in which the gate passed the mixture ``digest`` names; MixtureNotGated naming why when
    none did (never checked, blocked, or a prefix naming several mixtures)."""
    verdicts = [e for e in entries if e.get("kind") in GATE_KINDS and _named(e["body"], digest)]
    named = set().union(*(_named(e["body"], digest) for e in verdicts))
    if len(named) > 1:
        raise MixtureNotGated(
            f"the digest prefix {digest} names {len(named)} different mixtures: give more of it", path=ledger_label
        )
    passed = [e for e in verdicts if e["body"].get("verdict") == "passed"]
    if passed:
        last = passed[-1]
        return GatedMixture(last["kind"], int(last["seq"]), last["body"])
    if verdicts:
        lines = ", ".join(str(e["seq"]) for e in verdicts[-3:])
        raise MixtureNotGated(
            f"the mixture {digest[:16]} never passed the gate: it was checked {len(verdicts)} time(s) and blocked "
            f"(ledger line {lines}). A model trained on it is not recorded; fix the mixture, check it again, "
            "and train on the one that passes",
            path=ledger_label,
        )
    raise MixtureNotGated(
        f"the mixture {digest[:16]} never passed the gate: no check of it is in the ledger. Run "
        "`collapse-guard check MIXTURE` on the file the model is trained on, then record the model",
        path=ledger_label,
    )


@dataclass(frozen=True)
class RecordedModel:
    """A model trained elsewhere, as it was recorded."""

    generation: int
    model_id: str
    model_path: str  # workspace-relative, in the generation's folder
    model_sha256: str
    model_class: str
    mixture: str  # the mixture's digest, as the gate's entry names it
    gate_ledger_line: int
    evaluated: bool
    metrics: dict[str, float]
    signed: bool
    mlflow_run_id: str
    registered_model: str
    version: str
    ledger_line: int
    drift_report: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fetch_model(source: str, scratch: Path) -> Path:
    """The model as a local file or folder: a path as it is, a URI (``runs:/``, ``models:/``, ``file://``,
    ``s3://``...) downloaded by MLflow into ``scratch``."""
    if "://" not in source and not source.startswith(("runs:/", "models:/")):
        path = Path(source)
        if not path.exists():
            raise DataError("the model is not there (a file, a folder, or a URI MLflow can download)", path=source)
        return path
    import mlflow.artifacts

    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(scratch)))
    except Exception as exc:  # MLflow raises its own and the stores' types for a URI it cannot fetch
        raise DataError(f"cannot download the model ({type(exc).__name__}: {exc})", path=source) from exc


def record_model(
    params: Params,
    modality: Modality,
    *,
    model: str,
    mixture: str,
    model_class: str | None = None,
    evaluate: bool = True,
    parent: str | None = None,
    by: str = "record-model",
) -> RecordedModel:
    """Record ``model`` (a path or URI) as the next generation, trained on the gated ``mixture`` (a file, or a
    digest ``check`` printed). The caller holds the workspace lock."""
    state = pipeline_state(params)  # verifies the ledger
    ledger_label = relative(params, params.ledger_path)
    entries = ledger.read(params.ledger_path)
    gated = passing_verdict(entries, mixture_digest(mixture), ledger_label)
    class_path = model_class or params.model.class_path
    generation = state.next_generation
    run_uuid = uuid.uuid4().hex
    paths = staging.staging_paths(params, generation, run_uuid)
    final = generation_paths(params, generation)
    anchor = read_anchor(params)
    with _until_published(paths.dir):  # a failure before the publish leaves no staging folder behind
        with tempfile.TemporaryDirectory(prefix="collapse-guard-model-") as scratch:
            source = fetch_model(model, Path(scratch))
            model_file = _copy_model(source, paths.dir)
        model_sha256, model_id = _model_identity(model_file, generation)
        generator = _loaded(class_path, model_file) if evaluate else None
        metrics: dict[str, float] = {}
        if generator is not None:
            metrics = _evaluate(modality, anchor, generator, paths, SeedSchedule(params.run.seed).evaluate(generation))
        _copy_gate_files(params, gated, paths.dir)
        mixture_fields = _mixture_fields(params, gated)
        parent_id = parent if parent is not None else _parent(entries, gated)
        anchor_record = _anchor_record(anchor.record, entries)
        final_model = final.dir / model_file.relative_to(paths.dir)
        statement = attestation.recorded_model_statement(
            generation=generation,
            model_id=model_id,
            parent_model_id=parent_id,
            model_class=class_path if generator is not None or model_class else "",
            model_sha256=model_sha256,
            anchor={**anchor_record.to_dict(), "file": relative(params, params.anchor_path)},
            mixture=mixture_fields,
            gate_line=gated.seq,
            ledger_head=ledger.signed_head(params.ledger_path),
        )
        signed = trust.sign_generation(params, paths.dir, statement)
        staging.publish(paths.dir, final.dir)
    md5 = _versioned(params, final.dir)
    run_id, version = _tracked(params, generation, model_id, class_path, final_model, generator, gated, metrics)
    entry = payloads.generation_entry(
        run_uuid=run_uuid,
        generation=generation,
        model_id=model_id,
        model_class=class_path if generator is not None or model_class else "",
        model_path=relative(params, final_model),
        parent_model_id=parent_id,
        anchor=anchor_record,
        summary=MixtureSummary(
            **{k: mixture_fields[k] for k in ("rows", "real", "synthetic", "real_fraction")}, policy=POLICY
        ),
        mixture_file=mixture_fields["file"],
        mixture_digest=mixture_fields["digest"],
        curation=None,
        metrics=metrics,
        dvc_md5=md5,
        mlflow_run_id=run_id,
        forecast_settings=params.forecast.model_dump(),
    )
    entry["mixture"]["sha256"] = mixture_fields["sha256"]
    entry.update(
        trained=TRAINED_ELSEWHERE,
        model_sha256=model_sha256,
        gate={"kind": gated.kind, "ledger_line": gated.seq, "verdict": "passed"},
        registered_model=params.promotion.model_name,
        version=version,
        recorded_by=by,
    )
    recorded = ledger.append(params.ledger_path, "generation_recorded", entry)
    drift = final.drift_html if generator is not None else None
    return RecordedModel(
        generation=generation,
        model_id=model_id,
        model_path=relative(params, final_model),
        model_sha256=model_sha256,
        model_class=entry["model_class"],
        mixture=mixture_fields["sha256"] or mixture_fields["digest"],
        gate_ledger_line=gated.seq,
        evaluated=generator is not None,
        metrics=metrics,
        signed=signed,
        mlflow_run_id=run_id,
        registered_model=params.promotion.model_name,
        version=version,
        ledger_line=int(recorded["seq"]),
        drift_report=relative(params, drift) if drift is not None else "",
    )


@contextlib.contextmanager
def _until_published(folder: Path) -> Iterator[Path]:
    """The generation's staging folder, removed when anything fails before it is published."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _copy_model(source: Path, folder: Path) -> Path:
    """The model in the generation's folder: a file as ``model<suffix>`` (``model.pt`` without one), a folder as
    ``model/``."""
    if source.is_dir():
        target = folder / "model"
        shutil.copytree(source, target)
        return target
    target = folder / f"model{source.suffix or '.pt'}"
    shutil.copyfile(source, target)
    return target


def _model_identity(model_file: Path, generation: int) -> tuple[str, str]:
    """(SHA-256, model id): the id as the flow names its models (generation and the file's md5), a folder's by
    the SHA-256 of its files."""
    if model_file.is_dir():
        digest = folder_sha256(model_file, [p for p in model_file.rglob("*") if p.is_file()])
        return digest, f"gen{generation:03d}-{digest[:12]}"
    return file_digest(model_file, "sha256"), f"gen{generation:03d}-{file_md5(model_file)[:12]}"


def _loaded(class_path: str, model_file: Path) -> Generator:
    if model_file.is_dir():
        raise ConfigError(
            f"a model folder cannot be evaluated through {class_path}.load, which reads one file: record it with "
            "--no-evaluate, or save it as one file with your Generator's save"
        )
    return load_generator(class_path, model_file)


def _evaluate(modality: Modality, anchor, generator: Generator, paths, seed: int) -> dict[str, float]:
    """The flow's evaluation (tasks/evaluate.py): collapse metrics against held-out real data, the drift report."""
    evaluation, samples = modality.evaluator(anchor)(generator, seed)
    evaluated = evaluation.to_dict()
    train = anchor.train
    drift = modality.drift(samples, train[feature_columns(train)], paths.drift_html, evaluated)
    metrics = {**evaluated, "drift_share": drift.drift_share, **drift.estimates}
    atomic.write_json(paths.metrics, {**metrics, **drift.to_dict()})
    return metrics


def _copy_gate_files(params: Params, gated: GatedMixture, folder: Path) -> None:
    """The check's ``gate.json`` and GX page beside the model, where the flow keeps a generation's."""
    recorded = gated.body.get("gate_json")
    if not recorded:
        return
    source = params.resolve(recorded)
    for name in ("gate.json", "gate.html"):
        if (source.parent / name).is_file():
            shutil.copyfile(source.parent / name, folder / name)


def _mixture_fields(params: Params, gated: GatedMixture) -> dict[str, Any]:
    mixture = gated.mixture
    file = mixture.get("file") or (
        relative(params, generation_paths(params, int(gated.body["generation"])).mixture)
        if "generation" in gated.body
        else ""
    )
    return {
        "file": file,
        "sha256": mixture.get("sha256", ""),
        "digest": mixture.get("digest", ""),
        "sorted_ids_sha256": mixture.get("sorted_ids_sha256", ""),
        "rows": int(mixture.get("rows", 0)),
        "real": int(mixture.get("real", 0)),
        "synthetic": int(mixture.get("synthetic", 0)),
        "real_fraction": float(mixture.get("real_fraction", 0.0)),
    }


def _parent(entries: list[dict[str, Any]], gated: GatedMixture) -> str:
    """The model that made the mixture's synthetic records: the last recorded one among their model ids."""
    made_by = set(gated.mixture.get("synthetic_model_ids") or [])
    recorded = [e["body"]["model_id"] for e in entries if e.get("kind") == "generation_recorded"]
    return next((m for m in reversed(recorded) if m in made_by), "")


def _anchor_record(current: AnchorRecord, entries: list[dict[str, Any]]) -> AnchorRecord:
    """The anchor as read, with the DVC md5 the ledger recorded for that version (same digest)."""
    for entry in reversed(entries):
        recorded = (
            (entry.get("body") or {}).get("anchor") if entry.get("kind") in ledger.ANCHOR_RECORDING_KINDS else None
        )
        if recorded and recorded.get("digest") == current.digest:
            return AnchorRecord(current.rows, current.digest, recorded.get("dvc_md5", ""))
    return current


def _versioned(params: Params, folder: Path) -> str:
    if not params.tracking.dvc_track_outputs:
        return ""
    md5 = versioning.track(params.workspace, [folder], push_timeout=params.tracking.dvc_push_timeout_seconds)
    return md5.get(relative(params, folder), "")


def _tracked(
    params: Params,
    generation: int,
    model_id: str,
    class_path: str,
    model_file: Path,
    generator: Generator | None,
    gated: GatedMixture,
    metrics: dict[str, float],
) -> tuple[str, str]:
    """An MLflow run of the recorded generation, and the model registered as a candidate version."""
    uri = params.tracking_uri
    experiment = tracking.experiment_id(
        uri, params.tracking.experiment_name, params.resolve(params.tracking.mlflow_artifacts)
    )
    run_id = tracking.start_run(
        uri,
        experiment,
        f"generation-{generation}-recorded",
        tags={"generation": str(generation), "collapse_guard.trained": TRAINED_ELSEWHERE},
    )
    mixture = gated.mixture
    folder = model_file.parent
    tracking.log(
        uri,
        run_id,
        params={
            "generation": generation,
            "model_id": model_id,
            "model_class": class_path if generator is not None else "",
            "mixture_sha256": mixture.get("sha256", ""),
            "records_digest": mixture.get("digest", ""),
            "gate_ledger_line": gated.seq,
        },
        metrics=metrics,
        step=generation,
        artifacts=[folder / name for name in ("metrics.json", "drift.html", "drift.json", "gate.json")],
    )
    if generator is not None:
        from collapse_guard.pipeline import served_model  # imports mlflow.pyfunc: only when a model is logged

        served_model.log_model(uri, run_id, model_file, class_path, params.decoding)
    elif model_file.is_dir():
        tracking.log_folder(uri, run_id, model_file, "model")
    else:
        tracking.client(uri).log_artifact(run_id, str(model_file), "model")
    name = params.promotion.model_name
    version = registry.register(
        uri, name, run_id, "model", generation, {"model_id": model_id, "trained": TRAINED_ELSEWHERE}
    )
    registry.mark(
        uri,
        name,
        version,
        "candidate",
        f"trained outside collapse-guard on a mixture the gate passed (ledger line {gated.seq}); "
        f"`collapse-guard promote -g {generation}` serves it",
    )
    tracking.finish(uri, run_id)
    return run_id, str(version)
