"""One run at a time per workspace: an OS file lock (``filelock``) plus a note of who holds it.

Two ``collapse-guard run`` started together (a cron job overlapping a slow run) both read "next generation =
2" and both recorded it. Every command that writes the workspace's history (run, ingest, a served run) now
holds ``.collapse-guard/workspace.lock`` for its whole length. The lock is the kernel's (fcntl/flock): a
process killed with -9 releases it with its last breath, so a stale lock cannot block anyone. The holder note
beside it (pid, host, start time, command) is what a busy message names; a note left behind by a killed
process is recognised (its owner is gone) and reported as taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from collapse_guard.errors import WorkspaceBusy
from collapse_guard.records import atomic

LOCK_DIR = ".collapse-guard"


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started: str
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, started {self.started} ({self.command})"


@dataclass
class Held:
    """What the holder of the lock learns on taking it: the note a killed process left, if any."""

    holder: Holder
    took_over: Holder | None = None
    notes: list[str] = field(default_factory=list)


def lock_paths(workspace: Path) -> tuple[Path, Path]:
    folder = Path(workspace) / LOCK_DIR
    return folder / "workspace.lock", folder / "workspace.holder.json"


@contextlib.contextmanager
def workspace_lock(workspace: Path, command: str, wait_seconds: float = 0.0) -> Iterator[Held]:
    """Hold the workspace for ``command``; wait at most ``wait_seconds`` for another holder, then raise
    WorkspaceBusy (exit code 8) naming it."""
    from filelock import FileLock, Timeout

    lock_file, note_file = lock_paths(workspace)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file), thread_local=False)
    try:
        lock.acquire(timeout=wait_seconds, poll_interval=0.25)
    except Timeout:
        holder = read_holder(note_file)
        who = holder.describe() if holder else "a process that left no note"
        raise WorkspaceBusy(
            f"the workspace is busy: {who} holds it. Waited {wait_seconds:g} s. Let that run finish, or set "
            "run.lock_wait_seconds in params.yaml to wait longer",
            path=str(lock_file),
        ) from None
    try:
        me = Holder(os.getpid(), socket.gethostname(), datetime.now(UTC).isoformat(timespec="seconds"), command)
        held = Held(me, took_over=read_holder(note_file))  # a note under a free lock: its owner died holding it
        atomic.write_json(note_file, asdict(me))
        yield held
    finally:
        note_file.unlink(missing_ok=True)
        lock.release()


def read_holder(note_file: Path) -> Holder | None:
    try:
        return Holder(**json.loads(Path(note_file).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
