import json

import pytest

from collapse_guard import ledger
from collapse_guard.errors import LedgerTampered


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
    with pytest.raises(LedgerTampered):
        ledger.append(path, "run_started", {})


def test_appending_keeps_earlier_lines_byte_for_byte(tmp_path):
    path = tmp_path / "ledger.jsonl"
    build(path, 2)
    before = path.read_bytes()
    ledger.append(path, "run_finished", {"status": "completed"})
    assert path.read_bytes().startswith(before)
