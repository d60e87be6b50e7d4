"""Errors a user can cause, each with its CLI exit code (the docs' exit-code reference is made from ``EXIT_CODES``).

Every message names the cause and the file involved, so an operator can fix it without reading code.
"""

from __future__ import annotations


class CollapseGuardError(Exception):
    """Base for errors caused by input or configuration (not bugs)."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        self.details: dict = {}  # what `--json` prints beside the error (e.g. the generations a run finished)
        super().__init__(f"{message} [{path}]" if path else message)


class ConfigError(CollapseGuardError):
    """params.yaml is missing, malformed or has a value out of range."""

    exit_code = 2


class DataError(CollapseGuardError):
    """A data file is unreadable, corrupt, or lacks the columns it must have."""

    exit_code = 3


class AlreadyIngested(DataError):
    """``ingest`` was given a file (or folder) whose bytes were already ingested: appending it again would
    double its rows in an anchor that can never shrink. Nothing is written; ``--allow-same-file`` appends it again
    on purpose, and the ledger records that."""

    exit_code = 13


class GateBlocked(CollapseGuardError):
    """The mixture failed the gate's expectations; nothing was trained on it."""

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        failures: list | None = None,
        outcome: dict | None = None,
        path: str | None = None,
    ) -> None:
        self.failures = failures or []
        self.outcome = outcome or {}  # the blocked generation, as in `run --json`
        super().__init__(message, path=path)


class MixtureNotGated(CollapseGuardError):
    """A model trained elsewhere names a mixture that never passed the gate (no passing ``check`` and no passing
    gate of the flow records its digest): it is not recorded."""

    exit_code = 14


class AnchorIntegrityError(CollapseGuardError):
    """The real anchor shrank or changed against the version the pipeline last recorded."""

    exit_code = 5


class PolicyForbidden(CollapseGuardError):
    """A mixing policy that the run mode forbids (``replace`` in production)."""

    exit_code = 6


class LedgerTampered(CollapseGuardError):
    """The audit ledger's hash chain is broken: a line was edited, removed or reordered."""

    exit_code = 7


class WorkspaceBusy(CollapseGuardError):
    """Another run holds the workspace (the message names its pid, host and start time)."""

    exit_code = 8


class ServiceUnavailable(CollapseGuardError):
    """An external part (MLflow, the Prefect API, the DVC remote) did not answer in time or refused."""

    exit_code = 9


class RemoteStalled(ServiceUnavailable):
    """A transfer (the DVC push) did not finish within its deadline and may still be running: not retried."""


class ClusterLost(ServiceUnavailable):
    """The Dask cluster failed under a task: its workers died running it every time the scheduler retried it
    (Dask's ``KilledWorker``: out of memory, or a crash in native code), its scheduler went away, or it was
    left without any worker (tasks/cluster.py ``collected``)."""


class WorkspaceUnwritable(CollapseGuardError):
    """A folder or file of the workspace cannot be written (read-only, permissions, disk full)."""

    exit_code = 10


class SigningKeyError(CollapseGuardError):
    """A signing or watermark key is missing, is not the key the ledger recorded, cannot be read, or is readable
    by others. Raised before anything is written: a key is part of the trail, so a command never signs with
    another key or creates one in an initialised workspace (``collapse-guard audit rotate-key`` changes keys)."""

    exit_code = 11


class Unauthenticated(CollapseGuardError):
    """A bundle (or ledger) is self-consistent, but only against the key it carries: nothing ties that key to the
    one the reviewer trusts. Give the trusted key (``--public-key``) or pin its fingerprint (``--fingerprint``)."""

    exit_code = 12


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected error (a bug: please report it with the traceback)",
    ConfigError.exit_code: "configuration error (params.yaml or command-line option)",
    DataError.exit_code: "data error (unreadable, corrupt or incomplete data file)",
    GateBlocked.exit_code: "gate blocked the mixture before training",
    AnchorIntegrityError.exit_code: "real anchor shrank or was altered",
    PolicyForbidden.exit_code: "mixing policy forbidden in this run mode",
    LedgerTampered.exit_code: "audit ledger failed verification",
    WorkspaceBusy.exit_code: "workspace busy: another run holds it (the message names it)",
    ServiceUnavailable.exit_code: "an external service (MLflow, Prefect API, DVC remote, Dask) is down or timed out",
    WorkspaceUnwritable.exit_code: "a workspace folder or file cannot be written (read-only, permissions, disk full)",
    SigningKeyError.exit_code: "a signing or watermark key is missing, changed, unreadable or readable by others",
    Unauthenticated.exit_code: "not authenticated: checked only against the bundle's own key, or an unsigned ledger "
    "(give --public-key or --fingerprint)",
    AlreadyIngested.exit_code: "ingest refused: the same file was already ingested (--allow-same-file to repeat it)",
    MixtureNotGated.exit_code: "record-model refused: the model's mixture never passed the gate (check it first)",
}
