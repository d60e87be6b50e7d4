"""One line when a step of the pipeline starts and one when it ends, with its duration and its key figure.

A scheduled run is read by people who were not there: cron's log file, a Prefect worker's output, the Prefect UI.
The lines go through the standard ``logging`` module (logger ``collapse_guard.steps``), so they reach whatever
the process sends its logs to: the CLI's stderr (a terminal or a plain log file alike), and, because the CLI
names ``collapse_guard`` among Prefect's extra loggers, the Prefect UI's log of the task run they belong to.
The records carry ``step``, ``generation`` and ``phase`` (``start`` / ``end`` / ``failed``) as attributes, so a
terminal can draw a bar per step from the same events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from collapse_guard.errors import CollapseGuardError

LOGGER = logging.getLogger("collapse_guard.steps")
if logging.getLogger("collapse_guard").level == logging.NOTSET:
    # the package's progress lines are meant to be read: INFO unless the application configured otherwise
    logging.getLogger("collapse_guard").setLevel(logging.INFO)

START, END, FAILED = "start", "end", "failed"


@dataclass
class Step:
    """A step that is running; ``says`` sets the key figure its end line reports."""

    name: str
    generation: int | None = None
    figure: str = ""

    @property
    def label(self) -> str:
        return self.name if self.generation is None else f"generation {self.generation} · {self.name}"

    def says(self, figure: str) -> None:
        self.figure = figure


@contextmanager
def logged_step(name: str, generation: int | None = None) -> Iterator[Step]:
    """Log ``name``'s start, then its end (duration and key figure), or that it stopped and why."""
    step = Step(name, generation)
    extra = {"step": name, "generation": generation}
    LOGGER.info("%s: started", step.label, extra={**extra, "phase": START})
    started = time.perf_counter()
    try:
        yield step
    except BaseException as error:
        seconds = time.perf_counter() - started
        # an expected stop (a blocked gate, a named cause) is an answer, said in full once when the command ends
        expected = isinstance(error, CollapseGuardError)
        LOGGER.log(
            logging.INFO if expected else logging.WARNING,
            "%s: stopped after %.1f s (%s)",
            step.label,
            seconds,
            type(error).__name__,
            extra={**extra, "phase": FAILED, "seconds": seconds},
        )
        raise
    seconds = time.perf_counter() - started
    said = f": {step.figure}" if step.figure else ""
    LOGGER.info("%s: done in %.1f s%s", step.label, seconds, said, extra={**extra, "phase": END, "seconds": seconds})
