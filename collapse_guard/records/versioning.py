"""DVC: the anchor (and every generation's outputs) versioned in a real DVC repo with a remote.

By default the repo is the workspace and the remote is a local folder (``tracking.dvc_remote``),
so a fresh machine needs no server; point the remote at shared storage by config. The md5 DVC
records for the anchor is logged with every generation, so any generation's exact anchor can be
fetched back (``dvc.api.open(path, rev=...)``, or from the cache by md5).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from collapse_guard.errors import DataError, RemoteStalled, ServiceUnavailable
from collapse_guard.records import atomic

REMOTE_NAME = "local"
PUSH_TIMEOUT_SECONDS = 120.0  # tracking.dvc_push_timeout_seconds


@contextmanager
def _quiet() -> Iterator[None]:
    """DVC prints hints for humans on stdout; keep stdout for our own (--json) output."""
    dvc_logger = logging.getLogger("dvc")
    level = dvc_logger.level
    dvc_logger.setLevel(logging.WARNING)  # "To track the changes with git, run: ..." hints
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        dvc_logger.setLevel(level)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


# What a workspace's git history must hold for a clone to restore it: DVC's pointers and config, the ignore files
# DVC writes beside what it tracks, the public key reviewers verify with, the watermark keys' record (ids only)
COMMITTED = (
    "*.dvc",
    "*.gitignore",
    ".dvc/config",
    ".collapse-guard/signing.pub",
    ".collapse-guard/*.json",
)


def uncommitted(root: Path) -> list[str]:
    """The files of ``COMMITTED`` that git does not hold as they are (new or changed), relative to ``root``."""
    import fnmatch

    toplevel = _git(root, "rev-parse", "--show-toplevel")
    if toplevel.returncode != 0:
        return []
    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", ".")
    top, here = Path(toplevel.stdout.strip()).resolve(), Path(root).resolve()
    found = []
    for item in status.stdout.split("\0"):
        if len(item) < 4:
            continue
        path = (top / item[3:]).relative_to(here).as_posix() if (top / item[3:]).is_relative_to(here) else None
        if path and any(fnmatch.fnmatch(path, pattern) for pattern in COMMITTED):
            found.append(path)
    return sorted(found)


def ensure_repo(root: Path, remote_url: str) -> list[str]:
    """Create what is missing (git repo, DVC repo, default remote); returns what it created."""
    from dvc.repo import Repo

    created = []
    root = Path(root)
    toplevel = _git(root, "rev-parse", "--show-toplevel")
    if toplevel.returncode != 0:
        _git(root, "init", "-q")
        created.append("git repo")
        toplevel = _git(root, "rev-parse", "--show-toplevel")
    if not (root / ".dvc").is_dir():
        subdir = Path(toplevel.stdout.strip()).resolve() != root.resolve()
        with _quiet():
            Repo.init(str(root), subdir=subdir)
        created.append("DVC repo")
    if configured_remote(root) is None:
        set_remote(root, remote_url)
        created.append(f"DVC remote '{REMOTE_NAME}' at {remote_url}")
    return created


def remote_location(root: Path, remote_url: str) -> str:
    """Where ``tracking.dvc_remote`` points, as DVC's config holds it: a local folder absolute, a URL as given."""
    if "://" in remote_url:
        return remote_url
    path = Path(remote_url)
    return str(path if path.is_absolute() else (Path(root) / path).resolve())


def configured_remote(root: Path) -> str | None:
    """The URL of the workspace's DVC remote (None: not configured yet)."""
    from dvc.repo import Repo

    repo = Repo(str(root))
    try:
        remote = repo.config["remote"].get(REMOTE_NAME)
        return remote["url"] if remote else None
    finally:
        repo.close()


def set_remote(root: Path, remote_url: str) -> str:
    """Make ``remote_url`` the workspace's default DVC remote (a local folder is created); returns its location."""
    from dvc.repo import Repo

    location = remote_location(root, remote_url)
    if "://" not in remote_url:
        Path(location).mkdir(parents=True, exist_ok=True)
    repo = Repo(str(root))
    try:
        with repo.config.edit() as conf:
            conf["remote"][REMOTE_NAME] = {"url": location}
            conf["core"]["remote"] = REMOTE_NAME
    finally:
        repo.close()
    return location


def track(
    root: Path, paths: list[Path], push: bool = True, push_timeout: float = PUSH_TIMEOUT_SECONDS
) -> dict[str, str]:
    """``dvc add`` (and push, for at most ``push_timeout`` seconds) each path; returns the md5 DVC recorded
    for each, by relative path. A remote that refuses the push or does not finish in time is a
    ServiceUnavailable (exit 9) naming it.

    Under ``dvc repro`` (DVC sets ``DVC_STAGE`` for stage commands) DVC holds locks on the stage's
    dependencies and versions its outputs itself, so nothing is added: the md5s already recorded are
    returned.
    """
    root = Path(root)
    absolute = [str(Path(p).resolve()) for p in paths]
    relative = [str(Path(p).relative_to(root.resolve())) for p in absolute]
    if os.environ.get("DVC_STAGE"):
        return {rel: recorded_md5(root / rel) for rel in relative}
    from dvc.repo import Repo

    with _quiet():
        repo = Repo(str(root))
        still_pushing = False
        try:
            repo.add(absolute)  # absolute: DVC resolves relative targets against the process's cwd
            if push:
                still_pushing = _push_within(repo, absolute, push_timeout)
        finally:
            if not still_pushing:  # a push that timed out still uses the repo on its thread
                repo.close()
    return {rel: recorded_md5(root / rel) for rel in relative}


def _push_within(repo: Any, targets: list[str], timeout: float) -> bool:
    """``dvc push`` on a worker thread, waited for at most ``timeout`` seconds (DVC's own transfers have no
    overall deadline: a hung mount or a stalled cloud remote would hang the run). Returns False when the push
    finished; raises ServiceUnavailable naming the remote when it failed or is still running."""
    failure: list[BaseException] = []

    def push() -> None:
        try:
            repo.push(targets)
        except BaseException as error:  # re-raised on the caller's thread
            failure.append(error)

    worker = threading.Thread(target=push, name="dvc-push", daemon=True)
    worker.start()
    worker.join(timeout)
    remote = _remote_url(repo)
    if worker.is_alive():
        raise RemoteStalled(
            f"the DVC remote at {remote} did not take the push within {timeout:g} s "
            "(tracking.dvc_push_timeout_seconds): check that it is reachable and has space, or raise the timeout. "
            "The generation was not recorded; the next run redoes it",
            path=remote,
        )
    if failure:
        error = failure[0]
        raise ServiceUnavailable(
            f"the DVC remote at {remote} refused the push ({type(error).__name__}: {error}): make it reachable and "
            "writable, or set tracking.dvc_remote to one that is. The generation was not recorded; the next run "
            "redoes it",
            path=remote,
        ) from error
    return False


def _remote_url(repo: Any) -> str:
    try:
        return str(repo.config["remote"][repo.config["core"]["remote"]]["url"])
    except (KeyError, TypeError):
        return "the default remote"


def recorded_md5(path: Path) -> str:
    """The md5 in ``path``'s .dvc file, or "" when DVC does not track it yet."""
    dvc_file = Path(str(path) + ".dvc")
    if not dvc_file.is_file():
        return ""
    outs = (yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", ""))


def stored_object(root: Path, remote: str, md5: str) -> Path | None:
    """The object DVC keeps for ``md5`` (a file's bytes, or a folder's ``.dir`` listing) in the cache, else in
    a local remote (DVC 3 layout ``files/md5/xx/rest``), checked against its md5; None when neither has it."""
    suffix = Path("files") / "md5" / md5[:2] / md5[2:]
    candidates = [Path(root) / ".dvc" / "cache" / suffix]
    if "://" not in remote:
        candidates.append((Path(remote) if Path(remote).is_absolute() else Path(root) / remote) / suffix)
    for candidate in candidates:
        if candidate.is_file() and file_md5(candidate) == md5.removesuffix(".dir"):
            return candidate
    return None


def restore(root: Path, remote: str, md5: str, target: Path, last: str = "") -> Path | None:
    """Put the version DVC stored under ``md5`` back at ``target``; returns where it came from (the file, or the
    folder's listing), or None when the cache and a local remote lack any of it (nothing is touched then).

    A folder is restored file by file (temp file + rename; files already right are left alone, files the
    version does not list are removed), ``last`` (a name in it, e.g. a manifest that publishes the rest) last.
    """
    source = stored_object(root, remote, md5)
    if source is None:
        return None
    target = Path(target)
    if not md5.endswith(".dir"):
        if target.is_dir():
            shutil.rmtree(target)
        with atomic.atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        return source
    files: dict[str, Path] = {}
    for entry in json.loads(source.read_text(encoding="utf-8")):
        stored = stored_object(root, remote, entry["md5"])
        if stored is None:
            return None
        files[entry["relpath"]] = stored
    if target.is_file():
        target.unlink()
    target.mkdir(parents=True, exist_ok=True)
    for relpath in sorted(files, key=lambda name: name == last):
        destination = target / relpath
        if destination.is_file() and file_md5(destination) == file_md5(files[relpath]):
            continue
        with atomic.atomic_path(destination) as tmp:
            shutil.copyfile(files[relpath], tmp)
    for stray in [p for p in target.rglob("*") if p.is_file()]:
        if stray.relative_to(target).as_posix() not in files:
            stray.unlink()
    return source


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes, read in 1 MB chunks (files may be larger than memory)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_digest(path: Path) -> str:
    """The SHA-256 that identifies a source of real data: of a file's bytes; of a folder, over each ``.txt``
    document's name and the SHA-256 of its bytes, in name order (what a folder is read as, see
    collapse_guard.text.corpus). The ledger records it per ingest, so the same bytes are recognised whatever the
    file is called."""
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(path.glob("*.txt")):
            digest.update(file.name.encode("utf-8") + b"\0" + bytes.fromhex(file_digest(file, "sha256")))
        return digest.hexdigest()
    if not path.is_file():
        raise DataError("file or folder of real data not found", path=str(path))
    return file_digest(path, "sha256")


def file_md5(path: Path) -> str:
    """What DVC would record for a single file: the md5 of its bytes."""
    return file_digest(path, "md5")


def file_origin(label: str, path: Path) -> str:
    """The ``origin`` of real data read from a file: its name and a short md5, so the version is known."""
    return f"{label}@md5:{file_md5(path)[:12]}"
