"""Every alert is kept beside the ledger, so the audit page can list what was raised, when and why."""

from __future__ import annotations

from pathlib import Path

from collapse_guard.config import AlertsParams
from collapse_guard.errors import LedgerTampered
from collapse_guard.records import alerts


def test_sent_alerts_are_kept_in_the_journal_beside_the_ledger(tmp_path: Path):
    journal = alerts.journal_path(tmp_path / "ledger" / "ledger.jsonl")
    assert journal == tmp_path / "ledger" / "ledger.alerts.jsonl"
    alerts.send(AlertsParams(), alerts.Alert(alerts.GATE_BLOCKED, 3, "real fraction 0.1 < 0.25", "gen_003/gate.json"))
    assert alerts.kept(journal) == []  # without a journal nothing is kept
    alerts.send(
        AlertsParams(), alerts.Alert(alerts.GATE_BLOCKED, 3, "real fraction 0.1 < 0.25", "gen_003/gate.json"), journal
    )
    try:
        with alerts.on_failure(AlertsParams(), journal=journal):
            raise LedgerTampered("line 4: content does not match its hash", path="ledger/ledger.jsonl")
    except LedgerTampered:
        pass
    journal.open("a").write('{"torn')  # a line cut by a crash is skipped, not fatal
    kept = alerts.kept(journal)
    assert [k["event"] for k in kept] == [alerts.GATE_BLOCKED, alerts.LEDGER_FAILED]
    assert kept[0]["generation"] == 3 and kept[0]["file"] == "gen_003/gate.json" and kept[0]["at"]
    assert "line 4" in kept[1]["cause"]
