"""Alerts go through Apprise to the configured URLs: a local HTTP receiver on 127.0.0.1 reads them."""

from __future__ import annotations

import pytest

from collapse_guard.config import AlertsParams
from collapse_guard.errors import GateBlocked, LedgerTampered
from collapse_guard.records import alerts
from tests.receiver import Receiver


def test_an_alert_names_the_generation_the_cause_and_the_file():
    with Receiver() as receiver:
        settings = AlertsParams(urls=[receiver.url])
        error = GateBlocked(
            "gate blocked generation 3 before training: 1 expectation(s) failed",
            failures=["real fraction is at or above gate.min_real_fraction (0.95)"],
            outcome={"generation": 3},
            path="generations/gen_003/gate.json",
        )
        with pytest.raises(GateBlocked), alerts.on_failure(settings), alerts.on_failure(settings):
            raise error
    assert len(receiver.posts) == 1  # once, though it passed two watchers
    message = receiver.posts[0]
    assert message["title"] == "collapse-guard: gate blocked (generation 3)"
    assert "generation: 3" in message["message"] and "gate.min_real_fraction" in message["message"]
    assert "file: generations/gen_003/gate.json" in message["message"]


def test_ledger_failure_and_metric_floors():
    with Receiver() as receiver:
        settings = AlertsParams(urls=[receiver.url], metric_floors={"tail_coverage": 0.5, "absent_metric": 1})
        alerts.send(settings, alerts.for_error(LedgerTampered("line 4: hash mismatch", path="ledger/ledger.jsonl")))
        raised = alerts.below_floors(settings, 2, {"tail_coverage": 0.31, "variance_ratio": 0.9}, "gen_002/m.json")
        for alert in raised:
            alerts.send(settings, alert)
    titles = [post["title"] for post in receiver.posts]
    assert titles == [
        "collapse-guard: ledger failed verification (workspace)",
        "collapse-guard: collapse metric below its floor (generation 2)",
    ]
    assert "tail_coverage = 0.310 is below its floor 0.5" in receiver.posts[1]["message"]


def test_no_urls_logs_only_and_a_dead_receiver_does_not_fail_the_run(caplog):
    alert = alerts.Alert(alerts.PROMOTION_REFUSED, 1, "held-out loss rose", "generations/gen_001/model.pt")
    assert alerts.send(AlertsParams(), alert) is True
    assert "promotion refused" in caplog.text
    assert alerts.send(AlertsParams(urls=["json://127.0.0.1:9/none"], timeout_seconds=1), alert) is False
