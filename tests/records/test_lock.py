"""One run at a time per workspace: a second holder waits (bounded) or stops naming the first; a killed
holder's lock is taken over."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collapse_guard.errors import WorkspaceBusy
from collapse_guard.records.lock import lock_paths, read_holder, workspace_lock

HOLD = """
import sys, time
from collapse_guard.records.lock import workspace_lock
with workspace_lock(sys.argv[1], "holder-under-test"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def start_holder(workspace: Path, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(workspace), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_busy_workspace_stops_at_once_naming_the_holder(tmp_path: Path):
    holder = start_holder(tmp_path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(WorkspaceBusy) as caught, workspace_lock(tmp_path, "second"):
            pass
        assert time.monotonic() - started < 5
        message = str(caught.value)
        assert f"pid {holder.pid}" in message and "holder-under-test" in message and "started 20" in message
        assert "workspace.lock" in message and caught.value.exit_code == 8
    finally:
        holder.kill()
        holder.wait()


def test_a_bounded_wait_gets_the_lock_when_the_holder_finishes(tmp_path: Path):
    holder = start_holder(tmp_path, 1.5)
    with workspace_lock(tmp_path, "second", wait_seconds=30) as held:
        assert held.holder.pid == os.getpid() and held.took_over is None
        assert read_holder(lock_paths(tmp_path)[1]).command == "second"
    holder.wait()
    assert not lock_paths(tmp_path)[1].exists()  # the note goes with the lock


def test_a_bounded_wait_gives_up_after_its_time(tmp_path: Path):
    holder = start_holder(tmp_path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(WorkspaceBusy, match="Waited 1 s"), workspace_lock(tmp_path, "second", wait_seconds=1):
            pass
        assert 0.9 < time.monotonic() - started < 6
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_process_killed_with_sigkill_is_taken_over_and_named(tmp_path: Path):
    holder = start_holder(tmp_path, 60)
    holder.kill()  # SIGKILL: no finally block runs, the note stays behind
    holder.wait()
    assert read_holder(lock_paths(tmp_path)[1]).pid == holder.pid
    with workspace_lock(tmp_path, "after the crash") as held:
        assert held.took_over is not None and held.took_over.pid == holder.pid
