import json

import pytest

from collapse_guard.errors import LedgerTampered
from collapse_guard.records import ledger


def build(path, n=4):
    for i in range(n):
        ledger.append(
            path,
            "generation_recorded",
            {"generation": i, "model_id": f"m{i}", "parent_model_id": f"m{i - 1}" if i else ""},
        )


def test_an_intact_chain_verifies_and_lineage_follows_parents(tmp_path):
    path = tmp_path / "ledger.jsonl"
    build(path)
    assert ledger.verify(path) == []
    chain = ledger.lineage(ledger.read(path), 3)
    assert [e["body"]["model_id"] for e in chain] == ["m3", "m2", "m1", "m0"]


@pytest.mark.parametrize("tamper", ["edit", "remove", "reorder", "truncate_json"])
def test_any_tampering_is_detected_and_blocks_appending(tmp_path, tamper):
    path = tmp_path / "ledger.jsonl"
    build(path)
    lines = path.read_text().splitlines()
    if tamper == "edit":
        entry = json.loads(lines[1])
        entry["body"]["model_id"] = "forged"
        lines[1] = json.dumps(entry, sort_keys=True)
    elif tamper == "remove":
        del lines[1]
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines[2] = lines[2][:-5]
    path.write_text("\n".join(lines) + "\n")
    problems = ledger.verify(path)
    assert problems and any("line 2" in p or "line 3" in p for p in problems)
    if tamper != "reorder":  # a same-size swap in the middle is verify's to find (every run verifies first)
        with pytest.raises(LedgerTampered):
            ledger.append(path, "run_started", {})


def test_appending_keeps_earlier_lines_byte_for_byte(tmp_path):
    path = tmp_path / "ledger.jsonl"
    build(path, 2)
    before = path.read_bytes()
    ledger.append(path, "run_finished", {"status": "completed"})
    assert path.read_bytes().startswith(before)


def test_an_append_reads_only_the_head_and_the_last_line(tmp_path, monkeypatch):
    path = tmp_path / "ledger.jsonl"
    build(path, 30)

    def no_full_scan(*args):
        raise AssertionError("append re-read the whole ledger")

    monkeypatch.setattr(ledger, "verify", no_full_scan)
    monkeypatch.setattr(ledger, "read", no_full_scan)
    entry = ledger.append(path, "run_finished", {})
    assert entry["seq"] == 31
    monkeypatch.undo()
    assert ledger.verify(path) == [] and len(ledger.read(path)) == 31


def test_a_line_torn_by_a_crash_is_cut_back_and_a_lost_head_is_rebuilt(tmp_path):
    path = tmp_path / "ledger.jsonl"
    build(path, 3)
    committed = path.read_bytes()
    with open(path, "ab") as handle:
        handle.write(b'{"seq": 4, "kind": "gen')  # killed mid-write
    ledger.append(path, "run_finished", {})
    assert path.read_bytes().startswith(committed) and ledger.verify(path) == []
    recovered = ledger.read(path)[3]  # the recovery is recorded before the entry that found it
    assert recovered["kind"] == "ledger_recovered" and "cut back a line torn" in recovered["body"]["recovery"]
    ledger.head_path(path).unlink()  # a ledger written before heads existed
    assert ledger.append(path, "run_finished", {})["seq"] == 6
    assert ledger.verify(path) == []


def test_an_edit_to_the_last_line_blocks_the_next_append(tmp_path):
    path = tmp_path / "ledger.jsonl"
    build(path, 3)
    text = path.read_text().replace('"m2"', '"mX"')  # same size: only the last line's hash shows it
    path.write_text(text)
    with pytest.raises(LedgerTampered):
        ledger.append(path, "run_started", {})
