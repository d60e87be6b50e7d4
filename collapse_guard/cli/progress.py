"""What a run shows while it works, whoever reads it: a line when each step starts and ends (its duration and key
figure, collapse_guard/step_log.py), on stderr and flushed at once, so a log file or a pipe follows the run as
closely as a terminal; on a terminal, above a bar of the generations and the step running now.

The same lines reach the Prefect UI through Prefect's own API handler (``collapse_guard`` is one of its extra
loggers); Prefect's console handler leaves them to this one, so the terminal shows each line once.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from collapse_guard.step_log import END, FAILED, START

PACKAGE_LOGGER = "collapse_guard"


class StepLines(logging.Handler):
    """Every record of the package's loggers as one timestamped line; step records also drive the bar."""

    def __init__(self, progress: Any = None) -> None:
        super().__init__(logging.INFO)
        self.progress = progress
        self.current = progress.add_task("starting", total=None) if progress is not None else None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
            level = "" if record.levelno == logging.INFO else f"{record.levelname}: "
            line = f"{stamp} {level}{record.getMessage()}"
            if self.progress is None:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
                return
            self.progress.console.print(line, highlight=False, markup=False, soft_wrap=True)
            self._follow(record)
        except Exception:  # a log line must never stop a run
            self.handleError(record)

    def _follow(self, record: logging.LogRecord) -> None:
        phase, generation = getattr(record, "phase", None), getattr(record, "generation", None)
        if phase is None:
            return
        label = getattr(record, "step", "")
        if generation is not None:
            label = f"generation {generation} · {label}"
        if phase == START:
            self.progress.update(self.current, description=f"{label} …")
        elif phase in (END, FAILED):
            self.progress.update(self.current, description=f"{label} {'done' if phase == END else 'stopped'}")


@contextlib.contextmanager
def followed(progress: Any = None) -> Iterator[StepLines]:
    """For the duration of a command: the package's lines on stderr (and through ``progress``, a rich Progress
    on a terminal), instead of through the root logger's handlers."""
    package = logging.getLogger(PACKAGE_LOGGER)
    handler = StepLines(progress)
    package.addHandler(handler)
    propagated, package.propagate = package.propagate, False
    try:
        yield handler
    finally:
        package.removeHandler(handler)
        package.propagate = propagated
