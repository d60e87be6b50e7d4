"""Tell someone: a gate blocked, the anchor shrank or changed, the ledger failed verification, a promotion
was refused, a collapse metric fell below its floor, or the collapse forecast says one soon will.

Notifications go through Apprise (the library Prefect's own notification blocks build on) to every URL in
``alerts.urls`` (a webhook ``json://host/path``, Slack, e-mail, ...). With none configured the alert is only
logged. An alert never fails a run: a notification service that is down is logged and the run goes on.

Every alert is also kept in a journal beside the ledger (``ledger/<ledger name>.alerts.jsonl``, one JSON object a
line, with its time) so the audit page can list them. It is not hash-chained on purpose: the alert that says the
ledger is broken must still be writable.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from collapse_guard.config import AlertsParams
from collapse_guard.errors import AnchorIntegrityError, CollapseGuardError, GateBlocked, LedgerTampered

log = logging.getLogger("collapse_guard.alerts")

GATE_BLOCKED = "gate blocked"
ANCHOR_CHANGED = "anchor shrank or was altered"
LEDGER_FAILED = "ledger failed verification"
PROMOTION_REFUSED = "promotion refused"
METRIC_BELOW_FLOOR = "collapse metric below its floor"
COLLAPSE_FORECAST = "collapse forecast"


@dataclass(frozen=True)
class Alert:
    event: str
    generation: int | None
    cause: str
    file: str = ""

    @property
    def title(self) -> str:
        where = f"generation {self.generation}" if self.generation is not None else "workspace"
        return f"collapse-guard: {self.event} ({where})"

    @property
    def body(self) -> str:
        lines = [f"event: {self.event}"]
        if self.generation is not None:
            lines.append(f"generation: {self.generation}")
        lines.append(f"cause: {self.cause}")
        if self.file:
            lines.append(f"file: {self.file}")
        return "\n".join(lines)


def journal_path(ledger_path: Path) -> Path:
    """Where a workspace's alerts are kept: beside its ledger, named after it."""
    return Path(ledger_path).with_name(Path(ledger_path).stem + ".alerts.jsonl")


def keep(journal: Path, alert: Alert) -> None:
    """Append the alert, with its time, to the journal (one short line; a failure to write is logged, never
    raised: the alert is still sent)."""
    line = json.dumps({"at": datetime.now(UTC).isoformat(), **asdict(alert)}) + "\n"
    try:
        journal.parent.mkdir(parents=True, exist_ok=True)
        with open(journal, "a", encoding="utf-8") as handle:
            handle.write(line)
    except OSError as exc:
        log.error("could not keep the alert in %s: %s", journal, exc)


def kept(journal: Path) -> list[dict]:
    """The alerts kept in the journal, oldest first (a line torn by a crash is skipped)."""
    if not Path(journal).is_file():
        return []
    found = []
    for line in Path(journal).read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def send(settings: AlertsParams, alert: Alert, journal: Path | None = None) -> bool:
    """Notify every configured URL; True when all of them took it (or there are none). With ``journal``, the
    alert is kept there too (``journal_path``)."""
    # the cause is said by the error that ends the command, kept in the journal and sent: here, only that it went
    where = [f"kept in {Path(journal).name}"] if journal is not None else []
    where += [f"sent to {len(settings.urls)} URL(s)"] if settings.urls else ["no alerts.urls: logged only"]
    log.warning("alert: %s (%s)", alert.title, ", ".join(where))
    if journal is not None:
        keep(journal, alert)
    if not settings.urls:
        return True
    import apprise

    notifier = apprise.Apprise()
    for url in settings.urls:
        if not notifier.add(_with_timeouts(url, settings.timeout_seconds)):
            log.error("alerts.urls: %r is not a URL Apprise knows; alert not sent there", url)
    delivered = bool(notifier.notify(body=alert.body, title=alert.title, notify_type=apprise.NotifyType.FAILURE))
    if not delivered:
        log.error("an alert could not be delivered to every URL in alerts.urls: %s", alert.title)
    return delivered


def _with_timeouts(url: str, seconds: float) -> str:
    """Apprise's connect (cto) and read (rto) timeouts on HTTP-based services, unless the URL sets them."""
    if "cto=" in url or "rto=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}cto={seconds:g}&rto={seconds:g}"


def for_error(error: CollapseGuardError, generation: int | None = None) -> Alert | None:
    """The alert an expected failure stands for (None for failures nobody needs paging about)."""
    message = str(error)
    if isinstance(error, GateBlocked):
        generation = error.outcome.get("generation", generation)
        failures = "; ".join(str(f) for f in error.failures)
        event = ANCHOR_CHANGED if "last recorded" in failures else GATE_BLOCKED  # the anchor-integrity suite
        return Alert(event, generation, f"{message}: {failures}" if failures else message, error.path or "")
    if isinstance(error, AnchorIntegrityError):
        return Alert(ANCHOR_CHANGED, generation, message, error.path or "")
    if isinstance(error, LedgerTampered):
        return Alert(LEDGER_FAILED, generation, message, error.path or "")
    return None


@contextlib.contextmanager
def on_failure(settings: AlertsParams, generation: int | None = None, journal: Path | None = None) -> Iterator[None]:
    """Send the alert a CollapseGuardError stands for (once, however many blocks it passes), then re-raise."""
    try:
        yield
    except CollapseGuardError as error:
        alert = None if getattr(error, "alerted", False) else for_error(error, generation)
        if alert is not None:
            send(settings, alert, journal)
            error.alerted = True
        raise


def below_floors(settings: AlertsParams, generation: int, metrics: dict[str, float], file: str = "") -> list[Alert]:
    """An alert for each metric under its floor in ``alerts.metric_floors`` (metrics a modality lacks are skipped)."""
    return [
        Alert(METRIC_BELOW_FLOOR, generation, f"{name} = {metrics[name]:.3f} is below its floor {floor:g}", file)
        for name, floor in settings.metric_floors.items()
        if name in metrics and metrics[name] is not None and metrics[name] < floor
    ]
