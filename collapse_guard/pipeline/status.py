"""Where a workspace stands, at a glance (``collapse-guard status``): the champion, how the last run ended, the next
generation, the anchor, the alerts since the last run started and the collapse forecast, all read from the ledger
and the alerts' journal (nothing is run, nothing is written)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from collapse_guard.config import Params
from collapse_guard.pipeline.champion import history
from collapse_guard.records import alerts, ledger
from collapse_guard.reports import forecast

ANCHOR_KINDS = (*ledger.ANCHOR_RECORDING_KINDS, "anchor_restored")


@dataclass
class WorkspaceStatus:
    ledger_entries: int
    problems: list[str]  # what verification found (empty: the ledger verifies)
    next_generation: int
    champion: dict[str, Any] | None = None  # generation, model_id, version, since
    last_run: dict[str, Any] | None = None  # run, started, ended, outcome, generations, blocked_by
    anchor: dict[str, Any] | None = None  # rows, digest, dvc_md5, since
    open_alerts: list[dict[str, Any]] = field(default_factory=list)  # raised since the last run started
    forecast: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verified": not self.problems}


def workspace_status(params: Params) -> WorkspaceStatus:
    problems = ledger.verify(params.ledger_path)
    try:
        entries = ledger.read(params.ledger_path)
    except Exception as exc:  # an unreadable line: the verification already says so
        entries, problems = [], problems or [str(exc)]
    recorded = {e["body"]["generation"]: e for e in entries if e["kind"] == "generation_recorded"}
    last_recorded = max(recorded, default=None)
    last_run = _last_run(entries)
    started = last_run["started"] if last_run else ""
    return WorkspaceStatus(
        ledger_entries=len(entries),
        problems=problems,
        next_generation=0 if last_recorded is None else last_recorded + 1,
        champion=_champion(entries, recorded),
        last_run=last_run,
        anchor=_anchor(entries),
        open_alerts=[a for a in alerts.kept(alerts.journal_path(params.ledger_path)) if started and a["at"] >= started],
        forecast=[
            {**made.to_dict(), "said": made.describe()}
            for made in forecast.for_history(forecast.recorded_history(entries), params.forecast)
        ],
    )


def _champion(entries: list[dict], recorded: dict[int, dict]) -> dict[str, Any] | None:
    reigns = history(entries)
    if not reigns:
        return None
    reign = reigns[-1]
    body = recorded.get(reign.generation, {}).get("body", {})
    return {
        "generation": reign.generation,
        "model_id": body.get("model_id", ""),
        "version": reign.version,
        "since": reign.since,
    }


def _last_run(entries: list[dict]) -> dict[str, Any] | None:
    started = ledger.latest(entries, "run_started")
    if started is None:
        return None
    run = started["body"]["run"]
    finished = next((e for e in reversed(entries) if e["kind"] == "run_finished" and e["body"]["run"] == run), None)
    blocked = [
        e["body"]
        for e in entries
        if e["kind"] == "gate_verdict" and e["body"].get("run") == run and e["body"].get("verdict") != "passed"
    ]
    outcome = finished["body"]["status"] if finished else "not finished (running now, or killed)"
    return {
        "run": run,
        "started": started["at"],
        "ended": finished["at"] if finished else "",
        "outcome": outcome,
        "generations": finished["body"].get("generations_completed", []) if finished else [],
        "error": finished["body"].get("error", "") if finished else "",
        "blocked_by": [{"generation": b["generation"], "failures": list(b.get("failures", []))} for b in blocked],
    }


def _anchor(entries: list[dict]) -> dict[str, Any] | None:
    latest = next((e for e in reversed(entries) if e["kind"] in ANCHOR_KINDS and "anchor" in e["body"]), None)
    if latest is None:
        return None
    anchor = latest["body"]["anchor"]
    return {
        "rows": anchor.get("rows"),
        "digest": anchor.get("digest", ""),
        "dvc_md5": anchor.get("dvc_md5", ""),
        "since": latest["at"],
        "by": latest["kind"],
    }
