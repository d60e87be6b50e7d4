"""Atomic writes: all or nothing, and the file mode a plain write would give (secrets keep their 0600)."""

import os

import pytest

from collapse_guard.records import atomic


def test_a_written_file_gets_the_umask_mode_not_the_temp_files_0600(tmp_path):
    target = tmp_path / "reports" / "last_run.json"
    atomic.write_json(target, {"ok": True})
    assert target.stat().st_mode & 0o777 == atomic.DEFAULT_MODE
    assert atomic.DEFAULT_MODE & 0o044  # readable by the group and others under the usual umask


def test_a_secret_chmodded_inside_the_block_stays_private(tmp_path):
    target = tmp_path / "key"
    with atomic.atomic_path(target) as tmp:
        tmp.chmod(0o600)
        tmp.write_text("secret")
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "data.txt"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError), atomic.atomic_open(target) as handle:
        handle.write("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]
    assert os.access(target, os.R_OK)
