"""kill -9 at every point of a signed ledger append: a real process killed at each named fault point
(collapse_guard/records/faults.py), then the next command recovers (and says and records what it did), and the
ledger verifies. The end-to-end case (a killed `collapse-guard run`, then a run that succeeds) is in
tests/flows/test_keys_e2e.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from collapse_guard.records import faults, ledger, signing

APPEND = (
    "import sys\n"
    "from pathlib import Path\n"
    "from collapse_guard.records import ledger\n"
    "ledger.append(Path(sys.argv[1]), 'event', {'killed': True})\n"
)

# point -> (the killed entry is in the ledger after recovery, what the recovery says, whether it is recorded)
POINTS = {
    "ledger.intent_written": (False, "dropped the unfinished append", False),  # the head to commit, not signed
    "ledger.intent_signed": (False, "dropped the unfinished append", False),  # signed, the line not yet written
    "ledger.line_torn": (False, "cut back a line torn", True),  # half the line on disk
    "ledger.line_written": (True, "adopted line 4", True),  # the whole line, the head not yet committed
    "ledger.head_renamed": (True, "finished signing the head of line 4", False),  # its signature not yet moved
}


@pytest.fixture
def signed_ledger(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    signing.create_keys(tmp_path)
    path = tmp_path / "ledger" / "ledger.jsonl"
    for i in range(3):
        ledger.append(path, "event", {"i": i})
    return path


def killed_append(path: Path, point: str) -> subprocess.CompletedProcess:
    env = {**os.environ, faults.ENV: point}
    env.pop(signing.KEY_ENV, None)
    return subprocess.run([sys.executable, "-c", APPEND, str(path)], env=env, capture_output=True, timeout=120)


@pytest.mark.parametrize("point", list(POINTS))
def test_a_process_killed_at_any_point_of_an_append_is_recovered_by_the_next(signed_ledger: Path, point: str):
    committed = signed_ledger.read_bytes()
    done = killed_append(signed_ledger, point)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    assert ledger.verify(signed_ledger) == []  # read-only verification: the interrupted append is not a break
    assert ledger.interrupted(signed_ledger)  # ... and it says what the next command will do

    notes = ledger.recover(signed_ledger)

    adopted, said, recorded = POINTS[point]
    entries = ledger.read(signed_ledger)
    assert signed_ledger.read_bytes().startswith(committed)
    assert any(e["body"].get("killed") for e in entries) is adopted
    assert any(said in note for note in notes), notes
    if recorded:
        assert entries[-1]["kind"] == ledger.RECOVERED and said in entries[-1]["body"]["recovery"]
    else:
        assert entries[-1]["kind"] != ledger.RECOVERED
    assert not ledger.intent_path(signed_ledger).exists()
    assert not ledger.intent_signature_path(signed_ledger).exists()
    assert ledger.interrupted(signed_ledger) == []
    ledger.append(signed_ledger, "event", {"after": point})
    assert ledger.verify(signed_ledger) == []
    assert ledger.signed_head(signed_ledger).seq == len(ledger.read(signed_ledger))


@pytest.mark.parametrize("point", ["ledger.line_torn", "ledger.line_written"])
def test_the_first_append_of_a_ledger_killed_midway_is_recovered(tmp_path: Path, monkeypatch, point: str):
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    signing.create_keys(tmp_path)
    path = tmp_path / "ledger" / "ledger.jsonl"
    assert killed_append(path, point).returncode == -signal.SIGKILL
    assert ledger.verify(path) == []
    ledger.append(path, "event", {"next": True})
    entries = ledger.read(path)
    assert [e["body"].get("killed", False) for e in entries][:1] == [point == "ledger.line_written"]
    assert "signing_key" in entries[0]["body"] and ledger.verify(path) == []


def test_an_append_recovers_by_itself_when_nothing_ran_before_it(signed_ledger: Path):
    assert killed_append(signed_ledger, "ledger.line_written").returncode == -signal.SIGKILL
    entry = ledger.append(signed_ledger, "event", {"next": True})
    kinds = [e["kind"] for e in ledger.read(signed_ledger)]
    assert kinds[-3:] == ["event", ledger.RECOVERED, "event"] and entry["seq"] == len(kinds)
    assert ledger.verify(signed_ledger) == []


def test_a_line_appended_without_the_key_is_not_adopted_even_beside_a_stale_intent(signed_ledger: Path):
    """An intent signs one line: a different line after the head (written by someone without the key) is not
    adopted on its strength."""
    import json

    assert killed_append(signed_ledger, "ledger.intent_signed").returncode == -signal.SIGKILL
    last = ledger.read(signed_ledger)[-1]
    forged = {"seq": last["seq"] + 1, "kind": "anchor_ingested", "at": "x", "body": {}, "prev": last["hash"]}
    forged["hash"] = ledger.entry_hash(forged)
    with open(signed_ledger, "a") as handle:
        handle.write(json.dumps(forged, sort_keys=True) + "\n")
    assert "appended without the key" in ledger.verify(signed_ledger)[0]
    ledger.recover(signed_ledger)
    assert ledger.read(signed_ledger)[-1] == forged  # left where it is, as evidence
    assert "appended without the key" in ledger.verify(signed_ledger)[0]


def test_fault_points_cost_nothing_when_unset(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.point("ledger.line_written")  # returns: this process is still here
    assert not faults.armed("ledger.line_written")
