"""Before a run touches anything: is every external part there, and does it answer in time?

A tracking server that is down made ``run`` hang for minutes (MLflow's client retries seven times with
backoff); an unreachable Prefect API, a read-only folder or a corrupt ``mlflow.db`` ended in a traceback. Each
part is checked here with a short timeout and a bounded retry, and a failure is a ServiceUnavailable (exit 9)
or WorkspaceUnwritable (exit 10) naming the part, its address or path, and what to do. The same timeouts are
set for MLflow's own client, so a server that dies mid-run fails within them too.
"""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

from collapse_guard.config import Params
from collapse_guard.errors import ConfigError, ServiceUnavailable, WorkspaceUnwritable

TIMEOUT_SECONDS = 5.0  # one attempt at one service
ATTEMPTS = 2  # bounded retry: a blip passes, an outage fails in ~ATTEMPTS x TIMEOUT_SECONDS


def bound_client_waits(timeout: float = TIMEOUT_SECONDS, attempts: int = ATTEMPTS) -> None:
    """MLflow's and Prefect's HTTP clients: short timeouts and few retries (an explicit setting wins)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(timeout)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(attempts))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", str(attempts))
    os.environ.setdefault("PREFECT_API_REQUEST_TIMEOUT", str(timeout))


def check(params: Params, prefect_api_url: str | None = None) -> None:
    """Raise the first named cause found; return quietly when every part answers. The workspace's keys first:
    a missing or changed key stops the run before anything is written (collapse_guard/pipeline/keys.py)."""
    from collapse_guard.pipeline import keys

    keys.check(params)
    bound_client_waits()
    if params.training.work_pool and not prefect_api_url:
        raise ConfigError(
            f"training.work_pool {params.training.work_pool!r} trains through a deployment on that pool, whose workers "
            "must reach the same Prefect server as this run: start a persistent one (`make server`) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api here and on the workers (a temporary server lives only as "
            "long as this process), or set training.work_pool: '' to train in the flow's process",
            path=params.source_file,
        )
    check_writable(params)
    check_mlflow(params.tracking_uri)
    if prefect_api_url:
        check_http(
            "the Prefect API",
            prefect_api_url.rstrip("/") + "/health",
            "start it with `make server`, or "
            "unset PREFECT_API_URL to let Prefect run a temporary server for this process",
        )
    check_dvc_remote(params)


def check_writable(params: Params) -> None:
    """Every folder a run writes: it exists (or can be made) and takes a file."""
    folders = [
        params.workspace,
        params.resolve(params.paths.generations_dir),
        params.ledger_path.parent,
        params.resolve(params.paths.reports_dir),
        params.anchor_path.parent,
    ]
    for folder in folders:
        try:
            _probe_write(folder)
        except OSError as error:
            raise unwritable(folder, error) from error
    # the anchor dataset's parts are written inside its folder; no probe file there (this runs before the lock,
    # and an `ingest` holding it could version the probe with the anchor)
    if params.anchor_path.is_dir() and not os.access(params.anchor_path, os.W_OK | os.X_OK):
        raise unwritable(params.anchor_path, PermissionError(13, "Permission denied", str(params.anchor_path)))


def _probe_write(folder: Path) -> None:
    """Create ``folder`` if needed and write and remove an empty file in it: raises OSError if it cannot."""
    probe = folder / f".collapse-guard-probe-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b"")
    probe.unlink()


def unwritable(path: Path | str, error: OSError) -> WorkspaceUnwritable:
    """The named cause of a write that failed; it names the file (so its folder) when the error says which."""
    where = Path(error.filename).parent if error.filename else Path(path)
    return WorkspaceUnwritable(
        f"cannot write to {where}: {error.strerror or error}. The run needs to create files there; make it "
        "writable (permissions, a read-only mount, a full disk) and run again. Nothing was recorded",
        path=str(error.filename or path),
    )


def check_mlflow(tracking_uri: str) -> None:
    if tracking_uri.startswith(("http://", "https://")):
        check_http(
            "the MLflow tracking server",
            tracking_uri.rstrip("/") + "/health",
            "start it, or point MLFLOW_TRACKING_URI / tracking.mlflow_tracking_uri at one that runs",
        )
    elif tracking_uri.startswith("sqlite:///"):
        check_sqlite(Path(tracking_uri[len("sqlite:///") :]))


def check_sqlite(database: Path) -> None:
    """A local MLflow store that exists must be a readable SQLite database."""
    if not database.exists():
        return
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=TIMEOUT_SECONDS) as connection:
            connection.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise ServiceUnavailable(
            f"the MLflow tracking store cannot be read: {error}. It is corrupt or not an MLflow database; move it "
            "aside (the ledger and DVC still hold every generation) and run again to start a fresh store",
            path=str(database),
        ) from error


def check_http(part: str, url: str, advice: str) -> None:
    last = ""
    for attempt in range(ATTEMPTS):
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                if response.status < 500:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return  # it answered: whatever it thinks of /health, the service is up
            last = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            last = str(getattr(error, "reason", error))
        if attempt + 1 < ATTEMPTS:
            time.sleep(1)
    raise ServiceUnavailable(
        f"{part} at {url} did not answer ({last}; {ATTEMPTS} attempts, {TIMEOUT_SECONDS:g} s each): {advice}"
    )


def check_dvc_remote(params: Params) -> None:
    """A local DVC remote must be writable; a cloud remote is left to DVC's own timeouts."""
    remote = params.tracking.dvc_remote
    if not params.tracking.dvc_track_outputs or "://" in remote:
        return
    folder = params.resolve(remote)
    try:
        _probe_write(folder)
    except OSError as error:
        raise ServiceUnavailable(
            f"the DVC remote cannot be written: {error.strerror or error}. Make it writable or set "
            "tracking.dvc_remote to one that is",
            path=str(folder),
        ) from error
