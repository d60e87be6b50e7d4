"""A signed ledger head: rewriting, appending, cutting or deleting the ledger shows without the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collapse_guard.errors import LedgerTampered
from collapse_guard.records import ledger, signing


@pytest.fixture
def signed_ledger(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    signing.create_keys(tmp_path)
    path = tmp_path / "ledger" / "ledger.jsonl"
    for i in range(4):
        ledger.append(path, "event", {"i": i})
    assert ledger.verify(path) == []
    return path


def _rewrite_chain(path: Path, edit) -> None:
    """What an attacker without the key can do: edit entries and recompute every hash after them."""
    entries = ledger.read(path)
    edit(entries)
    prev = ledger.GENESIS
    for seq, entry in enumerate(entries, start=1):
        entry["seq"], entry["prev"] = seq, prev
        entry["hash"] = ledger.entry_hash(entry)
        prev = entry["hash"]
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))


def test_every_append_signs_the_head(signed_ledger: Path):
    assert ledger.signature_path(signed_ledger).is_file()
    head = ledger.signed_head(signed_ledger)
    assert head.seq == 4 and head.hash == ledger.read(signed_ledger)[-1]["hash"]


def test_a_chain_rewritten_with_recomputed_hashes_is_caught(signed_ledger: Path):
    _rewrite_chain(signed_ledger, lambda e: e[1]["body"].__setitem__("i", 99))
    assert ledger.chain_problems(ledger.read(signed_ledger)) == []  # the chain alone is fooled
    problems = ledger.verify(signed_ledger)
    assert problems and "not the signed head" in problems[0]
    with pytest.raises(LedgerTampered):
        ledger.append(signed_ledger, "event", {"i": 5})


def test_a_forged_entry_with_a_correct_hash_is_caught(signed_ledger: Path):
    _rewrite_chain(signed_ledger, lambda e: e.append({"kind": "anchor_ingested", "at": "x", "body": {"rows": 1}}))
    assert "appended without the key" in ledger.verify(signed_ledger)[0]


def test_cutting_the_last_lines_is_caught(signed_ledger: Path):
    lines = signed_ledger.read_text().splitlines(keepends=True)
    signed_ledger.write_text("".join(lines[:2]))
    assert "cut short" in ledger.verify(signed_ledger)[0]
    assert "says 4" in ledger.verify(signed_ledger)[0]


def test_deleting_the_ledger_is_caught(signed_ledger: Path):
    signed_ledger.unlink()
    assert "ledger was deleted" in ledger.verify(signed_ledger)[0]


def test_a_head_rewritten_without_the_key_is_caught(signed_ledger: Path):
    head = ledger.head_path(signed_ledger)
    head.write_text(json.dumps({"seq": 2, "hash": ledger.read(signed_ledger)[1]["hash"], "size": 10}) + "\n")
    assert "signature does not verify" in ledger.verify(signed_ledger)[0]


def test_an_unsigned_ledger_still_verifies_by_its_chain(tmp_path: Path):
    path = tmp_path / "l.jsonl"
    ledger.append(path, "event", {})
    assert ledger.verify(path) == [] and not ledger.signature_path(path).exists()


def test_seal_signs_an_existing_ledger_once(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    path = tmp_path / "ledger" / "ledger.jsonl"
    ledger.append(path, "event", {})
    signing.create_keys(tmp_path)
    assert ledger.seal(path) is True
    assert ledger.seal(path) is False
    assert ledger.verify(path) == []


def test_a_chained_line_appended_after_the_signed_head_is_never_adopted(signed_ledger: Path):
    last = ledger.read(signed_ledger)[-1]
    forged = {"seq": last["seq"] + 1, "kind": "anchor_ingested", "at": "x", "body": {}, "prev": last["hash"]}
    forged["hash"] = ledger.entry_hash(forged)
    with open(signed_ledger, "a") as handle:
        handle.write(json.dumps(forged, sort_keys=True) + "\n")
    with pytest.raises(LedgerTampered, match="appended without the key"):
        ledger.append(signed_ledger, "event", {})
