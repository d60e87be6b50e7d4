"""The audit ledger: an append-only JSON-lines file in which every entry holds the hash of the one before.

It answers "what was this model trained on?" long after the fact, and it is the pipeline's memory:
the last anchor the pipeline recorded and the current model come from here, so a tampered ledger is
as serious as a tampered anchor. Editing, removing or reordering any line breaks the chain and
``verify`` names the first broken line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collapse_guard import atomic
from collapse_guard.errors import LedgerTampered

GENESIS = "0" * 64

# Entry kinds whose body carries an "anchor" the pipeline vouches for (a blocked gate does not).
ANCHOR_RECORDING_KINDS = ("anchor_initialised", "anchor_ingested", "generation_recorded")


def entry_hash(entry: dict[str, Any]) -> str:
    content = {k: entry[k] for k in ("seq", "kind", "at", "body", "prev")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise LedgerTampered(f"line {number} is not valid JSON ({exc.msg})", path=str(path)) from exc
    return entries


def verify(path: Path) -> list[str]:
    """Every break in the chain, by line number; an empty list means the ledger is intact."""
    try:
        entries = read(path)
    except LedgerTampered as exc:
        return [str(exc)]
    problems = []
    prev = GENESIS
    for number, entry in enumerate(entries, start=1):
        try:
            if entry["seq"] != number:
                problems.append(f"line {number}: sequence number {entry['seq']}, expected {number}")
            if entry["prev"] != prev:
                problems.append(f"line {number}: does not follow line {number - 1} (a line was removed or moved)")
            if entry_hash(entry) != entry["hash"]:
                problems.append(f"line {number}: content does not match its hash (the line was edited)")
            prev = entry["hash"]
        except (KeyError, TypeError):
            problems.append(f"line {number}: not a ledger entry")
    return problems


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append(path: Path, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Append one entry; refuses to extend a chain that is already broken."""
    path = Path(path)
    with _locked(path):
        problems = verify(path)
        if problems:
            raise LedgerTampered("ledger failed verification: " + "; ".join(problems), path=str(path))
        entries = read(path)
        entry = {
            "seq": len(entries) + 1,
            "kind": kind,
            "at": datetime.now(UTC).isoformat(),
            "body": json.loads(json.dumps(body, default=str)),
            "prev": entries[-1]["hash"] if entries else GENESIS,
        }
        entry["hash"] = entry_hash(entry)
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        atomic.write_text(path, existing + json.dumps(entry, sort_keys=True, default=str) + "\n")
    return entry


def latest(entries: list[dict[str, Any]], *kinds: str) -> dict[str, Any] | None:
    for entry in reversed(entries):
        if entry["kind"] in kinds:
            return entry
    return None


def lineage(entries: list[dict[str, Any]], generation: int) -> list[dict[str, Any]]:
    """The recorded generations that led to ``generation``, newest first, following parent model ids."""
    by_model = {e["body"]["model_id"]: e for e in entries if e["kind"] == "generation_recorded"}
    current = next(
        (e for e in reversed(entries) if e["kind"] == "generation_recorded" and e["body"]["generation"] == generation),
        None,
    )
    chain = []
    while current is not None:
        chain.append(current)
        current = by_model.get(current["body"].get("parent_model_id") or "")
    return chain
