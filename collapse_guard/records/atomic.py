"""Atomic file writes: a crash or a full disk never leaves a half-written file behind.

Each writer writes a temp file in the target's directory (same filesystem), fsyncs it and renames it
over the target, which POSIX makes atomic.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _default_mode() -> int:
    """What ``open`` would give a new file under this process's umask (mkstemp's temp files are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


DEFAULT_MODE = _default_mode()  # read once: os.umask is process-wide, so not touched again while threads run


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside ``target``; rename it over ``target`` only if the block succeeds.

    The file gets the mode a plain write would give it (reports and data are readable by the team); a secret
    chmods its temp file to 0600 inside the block, which this keeps."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, DEFAULT_MODE)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as error:
        if error.filename is not None:
            raise
        # a write that fails mid-file (a full disk: ENOSPC from write()) names no file: name the one being written,
        # so the error says which folder is full, not just "the workspace"
        raise OSError(error.errno, error.strerror or str(error), str(target)) from error
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(target: Path, mode: str = "w") -> Iterator[IO[Any]]:
    with atomic_path(target) as tmp, open(tmp, mode, encoding=None if "b" in mode else "utf-8") as handle:
        yield handle


def write_text(target: Path, text: str) -> None:
    with atomic_open(target, "w") as handle:
        handle.write(text)


def write_json(target: Path, payload: Any) -> None:
    write_text(target, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(target: Path, frame: Any) -> None:
    """Write a pandas frame as Parquet, atomically."""
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)


def write_bytes(target: Path, payload: bytes) -> None:
    with atomic_open(target, "wb") as handle:
        handle.write(payload)
