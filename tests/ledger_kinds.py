"""For end-to-end tests: every entry of a real ledger is of a documented kind, and each of its fields is described
(collapse_guard/records/entry_kinds.py, the ledger reference the docs are generated from)."""

from __future__ import annotations

from pathlib import Path

from collapse_guard.records import ledger
from collapse_guard.records.entry_kinds import undocumented_fields


def assert_documented(ledger_path: Path) -> set[str]:
    """Fails naming each entry with an undocumented kind or field; returns the kinds seen."""
    entries = ledger.read(ledger_path)
    missing = {f"line {e['seq']} ({e['kind']}): {undocumented_fields(e)}" for e in entries if undocumented_fields(e)}
    assert not missing, "documented nowhere: " + "; ".join(sorted(missing))
    return {e["kind"] for e in entries}
