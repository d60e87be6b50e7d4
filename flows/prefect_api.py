"""The Prefect API a command's flows report to: the one configured, or a temporary server started early.

With an API configured (PREFECT_API_URL, in the environment or in Prefect's profile), nothing is started: the
flows report to it. Without one, Prefect would start a temporary server itself, but only when the first flow
is called: the process then imports Prefect's whole server package (about 2 CPU seconds) just to launch it,
and waits, doing nothing, while it comes up (5-15 s on a busy 2-core machine). Here the same server (Prefect's
own app, launched with the command and settings Prefect uses for its temporary server) is started as soon as
the command knows it needs one, so it comes up while the command loads its libraries and checks the
workspace, and the process talks to it as to any API: Prefect's server code is never imported in this process.

Nothing heavy is imported at module level: the CLI imports this before the flows.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

from collapse_guard.errors import ServiceUnavailable

STARTUP_TIMEOUT_SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
PR_SET_PDEATHSIG = 1  # prctl's option number (linux/prctl.h)
STOP_WAIT_SECONDS = 5.0  # then the server is killed (Prefect's own temporary server waits as long)
PORT_TAKEN = 3  # uvicorn's exit code when it cannot bind its port (Prefect retries on it too)
# what Prefect's temporary server runs with: no UI, ephemeral mode (services it does not need stay off)
SERVER_ENVIRONMENT = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


class TemporaryServer:
    """Prefect's API app in a child process on a free local port, from its creation until ``stop`` (or until
    this process dies, even by SIGKILL, on Linux: a killed run leaves no server behind)."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = {**os.environ, **environment, **SERVER_ENVIRONMENT}
        self._launch()

    def _launch(self) -> None:
        self.started = time.monotonic()
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "prefect.server.api.server:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            env=self.environment,
            stdin=subprocess.DEVNULL,
            preexec_fn=_stop_with_parent,
        )

    def wait_until_healthy(self, timeout: float) -> None:
        """Return once the API answers its health check; ServiceUnavailable (exit 9) if it has not within
        ``timeout`` seconds of its start (the command's own start-up counts: it overlaps the server's)."""
        while True:
            if self.process.poll() == PORT_TAKEN:  # another process took the free port first: take another
                self._launch()
            elif self.process.poll() is not None:
                raise _not_started(f"the server process exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > self.started + timeout:
                break
            time.sleep(0.1)
        raise _not_started(f"no answer within {timeout:g} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def prefect_api() -> Iterator[Reporting]:
    """For the body of a command that runs flows: start a temporary server now if no API is configured, and
    hand back a ``Reporting`` whose ``flows()`` context the flows run in. On the way out Prefect's log and
    event workers are drained into the server and the server is stopped."""
    from prefect.settings import PREFECT_API_URL, get_current_settings

    settings = get_current_settings()
    if PREFECT_API_URL.value() or not settings.server.ephemeral.enabled:
        yield Reporting(None, 0)  # a configured API, or none allowed: Prefect's own behaviour, unchanged
        return
    server = TemporaryServer(settings.to_environment_variables(exclude_unset=True))
    timeout = float(settings.server.ephemeral.startup_timeout_seconds)
    try:
        yield Reporting(server, timeout)
    finally:
        with contextlib.suppress(Exception):  # nothing to drain when no flow ran
            _drain_prefect_workers()
        server.stop()


class Reporting:
    """Where this command's flows report: ``flows()`` waits for the temporary server, if any, and points
    Prefect's settings at it for the flows it wraps."""

    def __init__(self, server: TemporaryServer | None, timeout: float) -> None:
        self.server, self.timeout = server, timeout

    @contextlib.contextmanager
    def flows(self) -> Iterator[None]:
        if self.server is None:
            yield
            return
        from prefect.settings import PREFECT_API_URL, temporary_settings

        self.server.wait_until_healthy(self.timeout)
        with temporary_settings(updates={PREFECT_API_URL: self.server.api_url}):
            yield


def _drain_prefect_workers() -> None:
    """Send what Prefect's log and event workers still hold before the server goes (as Prefect's test harness
    does before it stops its server)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=STOP_WAIT_SECONDS)
    EventsWorker.drain_all(timeout=STOP_WAIT_SECONDS)


def _not_started(reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Prefect's temporary local server did not start in time ({reason}). Start a persistent one "
        "(`make server`) and set PREFECT_API_URL=http://127.0.0.1:4200/api, or give the temporary one longer "
        f"with {STARTUP_TIMEOUT_SETTING}"
    )


def _stop_with_parent() -> None:
    """In the child, before it runs the server: ask Linux to send it SIGTERM when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
