"""Fault injection at named points, so tests can kill a real process exactly where a crash would hurt.

``COLLAPSE_GUARD_FAULT=<point>`` makes the process SIGKILL itself when it reaches that point (the same as
``kill -9`` from outside, without a race). Unset, a point costs one dictionary lookup. The points are named
where they are placed (``ledger.*`` in collapse_guard/records/ledger.py); docs/audit-trail.md lists them.
"""

from __future__ import annotations

import os
import signal
from typing import BinaryIO

ENV = "COLLAPSE_GUARD_FAULT"


def armed(point: str) -> bool:
    return os.environ.get(ENV) == point


def point(name: str) -> None:
    """Die here, as by ``kill -9``, if ``COLLAPSE_GUARD_FAULT`` names this point."""
    if armed(name):
        os.kill(os.getpid(), signal.SIGKILL)


def tear(handle: BinaryIO, data: bytes, name: str) -> None:
    """If ``name`` is armed: write the first half of ``data`` to disk, then die (a line torn by a crash)."""
    if armed(name):
        handle.write(data[: len(data) // 2])
        handle.flush()
        os.fsync(handle.fileno())
        point(name)
