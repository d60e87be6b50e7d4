"""A generation is written out of sight, then appears whole: one ``os.rename`` of its staging folder.

Every file of generation N (synthetic batch, mixture, gate verdict, model, metrics, drift report, signature)
is written under ``generations/.staging/gen_NNN-<run>/``; ``publish`` renames that folder to
``generations/gen_NNN/`` right before the generation is recorded in the ledger. A reader therefore sees either
no ``gen_NNN`` or a complete one, and a killed run leaves only a staging folder, which the next run removes
(collapse_guard/pipeline/recovery.py). Everything recorded (ledger, MLflow, DVC, messages) names the final path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from collapse_guard.config import Params
from collapse_guard.records.workspace import GenerationPaths, generation_paths

STAGING = ".staging"


def staging_root(params: Params) -> Path:
    """Inside generations/, so the final rename never crosses a file system."""
    return params.resolve(params.paths.generations_dir) / STAGING


def staging_paths(params: Params, generation: int, run_uuid: str) -> GenerationPaths:
    """Where ``run_uuid`` writes generation ``generation`` until it is published (one folder per run, so a
    leftover of a killed run never mixes with a new run's files)."""
    final = generation_paths(params, generation).dir
    return GenerationPaths(staging_root(params) / f"{final.name}-{run_uuid[:12]}")


def publish(staged: Path, final: Path) -> Path:
    """Make ``staged`` visible as ``final`` with one rename.

    A ``final`` folder that already exists was never recorded (a generation the gate blocked, or a run
    killed between this rename and its ledger entry: the ledger decides what is recorded): it is moved back
    into staging first, then removed once the new folder is in place.
    """
    staged, final = Path(staged), Path(final)
    superseded = None
    if final.exists():
        superseded = staged.parent / f"{final.name}-superseded-{staged.name.rsplit('-', 1)[-1]}"
        os.rename(final, superseded)
    os.rename(staged, final)
    _fsync_dir(final.parent)
    if superseded is not None:
        shutil.rmtree(superseded, ignore_errors=True)
    return final


def leftover_folders(params: Params) -> list[Path]:
    """Staging folders nobody will publish (only a killed run's, since the caller holds the workspace lock)."""
    root = staging_root(params)
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (the directory entry), so a power cut does not undo a published generation."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
