"""Content-addressed handover between the machine that guards and the machine that trains (``training:``).

The gated mixture goes to the training machine, and the trained model comes back, through a folder both see
(``training.exchange``: a shared mount, or the workspace itself when the worker runs beside it). Each file is
named by the SHA-256 of its bytes (``mixtures/<sha256>.parquet``, ``models/<sha256>.pt``), and whoever takes a
file hashes it before using it: the worker trains only on the mixture the gate passed, and the flow evaluates
and records only the model the worker says it wrote. A receipt (``receipts/<request>.json``) tells the flow
which model a training run produced. Writes are atomic (a temp file and a rename), so a half-copied file is
never taken.

Plain Python: the Prefect side is flows/remote_training.py (the deployment's flow, on the worker) and
tasks/train.py (``run_deployment`` from the guarded flow).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from collapse_guard.config import ModelParams
from collapse_guard.errors import DataError
from collapse_guard.pipeline import step
from collapse_guard.records import atomic
from collapse_guard.records.anchor import read_records
from collapse_guard.records.versioning import file_digest

TRAINING_FLOW = "collapse-guard-training"  # the flow a training deployment runs: <flow>/<training.deployment>
MIXTURES, MODELS, RECEIPTS = "mixtures", "models", "receipts"
MIXTURE_SUFFIX, MODEL_SUFFIX = ".parquet", ".pt"


def deployment_name(deployment: str) -> str:
    return f"{TRAINING_FLOW}/{deployment}"


def address(folder: Path, kind: str, digest: str, suffix: str) -> Path:
    return Path(folder) / kind / f"{digest}{suffix}"


def put(folder: Path, kind: str, source: Path, suffix: str) -> str:
    """Copy ``source`` into the exchange under its SHA-256 (kept if a verified copy is there already)."""
    digest = file_digest(source, "sha256")
    target = address(folder, kind, digest, suffix)
    if target.is_file() and file_digest(target, "sha256") == digest:
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return digest


def take(folder: Path, kind: str, digest: str, suffix: str, target: Path) -> Path:
    """Copy the exchange's file ``digest`` to ``target``, verified: the copy's SHA-256 must be ``digest``
    (DataError naming the file, and nothing left at ``target``, when it is missing or is other bytes)."""
    source = address(folder, kind, digest, suffix)
    if not source.is_file():
        raise DataError(f"the exchange has no {kind[:-1]} {digest[:16]} (training.exchange)", path=str(source))
    with atomic.atomic_path(Path(target)) as tmp:
        shutil.copyfile(source, tmp)
        found = file_digest(tmp, "sha256")
        if found != digest:
            raise DataError(
                f"the {kind[:-1]} handed over is not the one named: its SHA-256 is {found[:16]}, not {digest[:16]} "
                "(changed or cut short in the exchange); nothing was used",
                path=str(source),
            )
    return Path(target)


def write_receipt(folder: Path, request: str, payload: dict[str, Any]) -> None:
    atomic.write_json(Path(folder) / RECEIPTS / f"{request}.json", payload)


def read_receipt(folder: Path, request: str) -> dict[str, Any]:
    path = Path(folder) / RECEIPTS / f"{request}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"the training run left no readable receipt ({exc})", path=str(path)) from exc


def train_from_exchange(
    folder: Path, mixture_sha256: str, model: ModelParams, base_seed: int, generation: int, request: str
) -> str:
    """On the training machine: take the mixture ``mixture_sha256`` (verified), train the model as the flow
    would in its own process (collapse_guard.pipeline.step.train: the same seed for the same generation), put
    the model file into the exchange and write the receipt; returns the model's SHA-256."""
    folder = Path(folder)
    scratch = folder / RECEIPTS / f".{request}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        mixture = take(folder, MIXTURES, mixture_sha256, MIXTURE_SUFFIX, scratch / f"mixture{MIXTURE_SUFFIX}")
        generator = step.train(model, read_records(mixture), generation=generation, seeds=step.SeedSchedule(base_seed))
        generator.save(scratch / f"model{MODEL_SUFFIX}")
        digest = put(folder, MODELS, scratch / f"model{MODEL_SUFFIX}", MODEL_SUFFIX)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_receipt(
        folder,
        request,
        {
            "model_sha256": digest,
            "mixture_sha256": mixture_sha256,
            "generation": generation,
            "base_seed": base_seed,
            "model_class": model.class_path,
        },
    )
    return digest
