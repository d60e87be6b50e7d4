"""The DVC push has an overall deadline, and a remote that refuses it is a named cause (exit 9), not a
traceback or a hang."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collapse_guard.errors import RemoteStalled, ServiceUnavailable
from collapse_guard.records import versioning


def dvc_repo(tmp_path: Path, remote: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    versioning.ensure_repo(root, str(remote))
    (root / "data.csv").write_text("x\n1\n")
    return root


def test_a_push_that_works_is_tracked_and_pushed(tmp_path: Path):
    root = dvc_repo(tmp_path, tmp_path / "remote")
    md5 = versioning.track(root, [root / "data.csv"], push_timeout=60)
    assert md5["data.csv"] and any(p.is_file() for p in (tmp_path / "remote").rglob("*"))


def test_a_remote_that_cannot_be_written_is_a_named_cause(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    root = dvc_repo(tmp_path, tmp_path / "remote")
    blocker.write_text("a file where the remote's folder should be")  # refuses writes even for root
    with (root / ".dvc/config").open("a") as config:
        config.write(f"['remote \"broken\"']\n    url = {blocker / 'store'}\n")
    text = (root / ".dvc/config").read_text().replace("remote = local", "remote = broken")
    (root / ".dvc/config").write_text(text)

    with pytest.raises(ServiceUnavailable) as raised:
        versioning.track(root, [root / "data.csv"], push_timeout=60)

    assert raised.value.exit_code == 9
    message = str(raised.value)
    assert f"the DVC remote at {blocker / 'store'} refused the push" in message and "tracking.dvc_remote" in message


def test_a_push_that_does_not_finish_in_time_stops_at_the_deadline(tmp_path: Path, monkeypatch):
    from dvc.repo import Repo

    root = dvc_repo(tmp_path, tmp_path / "remote")
    monkeypatch.setattr(Repo, "push", lambda self, *a, **k: time.sleep(30))  # a stalled remote: no answer
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable) as raised:
        versioning.track(root, [root / "data.csv"], push_timeout=0.5)

    assert time.monotonic() - started < 10
    assert "did not take the push within 0.5 s (tracking.dvc_push_timeout_seconds)" in str(raised.value)
    assert raised.value.exit_code == 9
    assert isinstance(raised.value, RemoteStalled)


def test_the_version_task_retries_a_refused_push_but_not_a_stalled_one():
    from prefect.states import Failed

    from collapse_guard.tasks.record import not_a_stalled_push

    assert not not_a_stalled_push(None, None, Failed(data=RemoteStalled("still pushing")))
    assert not_a_stalled_push(None, None, Failed(data=ServiceUnavailable("refused")))
