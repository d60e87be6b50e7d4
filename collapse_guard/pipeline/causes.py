"""An exception from deep inside a library, translated into the named cause an operator can act on.

A run fails in MLflow's client, in Prefect's HTTP client, in SQLite or in the file system, each with its own
exception type. The cause is found along the exception's chain (``__cause__`` / ``__context__``) and
returned as the project's error with its documented exit code; anything else is a bug and keeps its traceback.
Library types are recognised by their module, so nothing heavy is imported here.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator

from collapse_guard.config import Params
from collapse_guard.errors import CollapseGuardError, DataError, ServiceUnavailable
from collapse_guard.pipeline.preflight import unwritable

# errno values that mean "this place cannot be written", whatever the call that hit them
UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EISDIR}
NETWORK_MODULES = ("httpx", "httpcore", "requests", "urllib3", "anyio")


def named_cause(error: BaseException, params: Params) -> CollapseGuardError | None:
    """The project error that explains ``error``, or None if it is not an expected failure."""
    for link in _chain(error):
        found = _explain(link, params)
        if found is not None:
            return found
    return None


def _explain(error: BaseException, params: Params) -> CollapseGuardError | None:
    module = type(error).__module__ or ""
    if isinstance(error, CollapseGuardError):
        return error
    if isinstance(error, OSError) and error.errno in UNWRITABLE:
        return unwritable(params.workspace, error)
    if isinstance(error, RuntimeError) and "ephemeral Prefect API server" in str(error):
        return ServiceUnavailable(
            f"Prefect's temporary local server did not start in time ({error}). Start a persistent one "
            "(`make server`) and set PREFECT_API_URL=http://127.0.0.1:4200/api, or give the temporary one longer "
            "with PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
        )
    if module.startswith("prefect") or (module.startswith(NETWORK_MODULES) and _mentions_prefect(error)):
        return ServiceUnavailable(
            f"the Prefect API did not answer or refused the run ({type(error).__name__}: {error}). Check that the "
            "server at PREFECT_API_URL runs (`make server`), or unset PREFECT_API_URL for a temporary one"
        )
    if module.startswith("mlflow") or module.startswith(NETWORK_MODULES):
        return ServiceUnavailable(
            f"the MLflow tracking store did not answer in time or failed ({type(error).__name__}: {error}). Check "
            "that it runs, or point MLFLOW_TRACKING_URI / tracking.mlflow_tracking_uri at one that does",
            path=params.tracking_uri,
        )
    if isinstance(error, sqlite3.DatabaseError) or module.startswith("sqlalchemy"):
        return ServiceUnavailable(
            f"the MLflow tracking store cannot be used ({type(error).__name__}: {error}). Move a corrupt "
            "mlflow.db aside and run again",
            path=params.tracking_uri,
        )
    if module.startswith(("pickle", "zipfile")) or "PytorchStreamReader" in str(error):
        return DataError(f"a saved model cannot be read ({error}); restore it with `dvc checkout`")
    return None


def _mentions_prefect(error: BaseException) -> bool:
    url = os.environ.get("PREFECT_API_URL", "")
    return bool(url) and url.split("/api")[0] in str(error)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
