"""Keys are part of the trail: the ledger records the fingerprint of its key, a command never signs with another
key (nothing is written), deleting the keys never makes a signed ledger pass as unsigned, and a rotation is
recorded, endorsed by the old key, and followed by verification."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from collapse_guard.errors import ConfigError, LedgerTampered, SigningKeyError
from collapse_guard.records import keychain, ledger, signing


def new_pem_pair() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    monkeypatch.delenv(signing.PERMISSIONS_ENV, raising=False)
    signing.create_keys(tmp_path)
    for i in range(2):
        ledger.append(tmp_path / "ledger" / "ledger.jsonl", "event", {"i": i})
    return tmp_path


def ledger_files(workspace: Path) -> dict[str, bytes]:
    folder = workspace / "ledger"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.endswith(".lock")}


def test_the_fingerprint_is_the_sha256_of_the_der_public_key_and_is_recorded(workspace: Path):
    keys = signing.Keys(workspace)
    public = serialization.load_pem_public_key(keys.public.read_bytes())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    expected = hashlib.sha256(der).hexdigest()
    assert (workspace / ".collapse-guard" / signing.FINGERPRINT).read_text().strip() == f"SHA256:{expected}"
    first = ledger.read(workspace / "ledger" / "ledger.jsonl")[0]
    assert first["body"]["signing_key"]["fingerprint"] == expected
    assert first["body"]["signing_key"]["public_key"] == keys.public.read_text()
    assert ledger.signed_head(workspace / "ledger" / "ledger.jsonl").key == expected


@given(st.sampled_from(["", "SHA256:", "sha256:"]), st.booleans(), st.booleans())
def test_a_fingerprint_is_read_however_a_person_types_it(prefix: str, upper: bool, colons: bool):
    fingerprint = hashlib.sha256(b"a key").hexdigest()
    text = fingerprint.upper() if upper else fingerprint
    text = ":".join(text[i : i + 2] for i in range(0, 64, 2)) if colons else text
    assert signing.normalised(prefix + text) == fingerprint
    with pytest.raises(ConfigError, match="64 hex"):
        signing.normalised(prefix + text[:-2])


def _replace(workspace: Path) -> None:
    (workspace / ".collapse-guard/signing.key").write_bytes(new_pem_pair()[0])


def _corrupt(workspace: Path) -> None:
    (workspace / ".collapse-guard/signing.key").write_text("not a key\n")


def _delete(workspace: Path) -> None:
    (workspace / ".collapse-guard/signing.key").unlink()


def _world_readable(workspace: Path) -> None:
    (workspace / ".collapse-guard/signing.key").chmod(0o644)


def _swap_pair(workspace: Path) -> None:
    private, public = new_pem_pair()
    (workspace / ".collapse-guard/signing.key").write_bytes(private)
    (workspace / ".collapse-guard/signing.pub").write_bytes(public)


def _delete_public(workspace: Path) -> None:
    (workspace / ".collapse-guard/signing.pub").unlink()


CASES = {
    "replaced": (_replace, ["signing.key", "is key SHA256:"]),
    "corrupted": (_corrupt, ["signing.key", "not an unencrypted PEM private key"]),
    "deleted": (_delete, ["signing.key is missing"]),
    "world-readable": (_world_readable, ["readable by others (mode 0644)", "chmod 600"]),
    "pair swapped": (_swap_pair, ["no rotation statement signed by it"]),
    "public key deleted": (_delete_public, ["public key is missing"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_wrong_key_stops_the_append_before_anything_is_written(workspace: Path, case: str):
    path = workspace / "ledger" / "ledger.jsonl"
    expected = signing.short(ledger.signed_head(path).key)
    before = ledger_files(workspace)
    saved = {p.name: p.read_bytes() for p in (workspace / ".collapse-guard").glob("signing.*")}
    mutate, fragments = CASES[case]
    mutate(workspace)
    with pytest.raises(SigningKeyError) as raised:
        ledger.append(path, "event", {"signed with": case})
    message = str(raised.value)
    for fragment in [expected, *fragments]:
        assert fragment in message, message
    assert raised.value.exit_code == 11
    assert ledger_files(workspace) == before
    for name, data in saved.items():  # the right keys back: the ledger verifies and takes entries again
        (workspace / ".collapse-guard" / name).write_bytes(data)
    (workspace / ".collapse-guard/signing.key").chmod(0o600)
    assert ledger.verify(path) == []
    ledger.append(path, "event", {"after": case})
    assert ledger.verify(path) == []


def test_a_key_readable_by_others_is_only_warned_about_when_asked(workspace: Path, monkeypatch, caplog):
    (workspace / ".collapse-guard/signing.key").chmod(0o640)
    monkeypatch.setenv(signing.PERMISSIONS_ENV, "warn")
    ledger.append(workspace / "ledger" / "ledger.jsonl", "event", {})
    assert "readable by others (mode 0640)" in caplog.text


def test_a_forged_chain_with_the_keys_deleted_fails_verification(workspace: Path):
    path = workspace / "ledger" / "ledger.jsonl"
    entries = ledger.read(path)
    entries[0]["body"]["i"] = 99
    prev = ledger.GENESIS
    for entry in entries:
        entry["prev"] = prev
        entry["hash"] = prev = ledger.entry_hash(entry)
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    for name in ("signing.key", "signing.pub"):
        (workspace / ".collapse-guard" / name).unlink()
    problems = ledger.verify(path)
    assert problems and "public key" in problems[0] and "is missing" in problems[0]
    # even the head and its signature gone: the ledger still names its key, so it is not "unsigned"
    ledger.head_path(path).unlink()
    ledger.signature_path(path).unlink()
    assert "is missing" in ledger.verify(path)[0]
    with pytest.raises(SigningKeyError, match="public key is missing"):
        ledger.append(path, "event", {})


def rotate(workspace: Path) -> tuple[str, str]:
    """What `audit rotate-key` does at the ledger's level: endorse the new key with the old, record, install."""
    keys = signing.Keys(workspace)
    old = signing.public_fingerprint(keys.public)
    staged = workspace / ".collapse-guard/signing.key.next"
    new_pem = signing.new_private_key(staged)
    rotation = keychain.write_rotation(workspace, keys, new_pem, "test")
    keychain.write_retired(workspace, keys.public.read_text())
    ledger.append(workspace / "ledger" / "ledger.jsonl", keychain.ROTATED, ledger.rotation_body(rotation))
    os.replace(staged, keys.private)
    keys.public.write_text(new_pem)
    signing.write_fingerprint(keys)
    return old, signing.fingerprint_of(new_pem.encode())


def test_a_rotation_is_recorded_endorsed_by_the_old_key_and_followed_from_either_key(workspace: Path):
    path = workspace / "ledger" / "ledger.jsonl"
    old, new = rotate(workspace)
    (statement,) = keychain.statement_files(keychain.rotations_dir(workspace))
    assert statement.name == f"0001-{new[:16]}.json"
    ledger.append(path, "event", {"after": "rotation"})
    entry = next(e for e in ledger.read(path) if e["kind"] == keychain.ROTATED)
    assert (entry["body"]["previous"], entry["body"]["signing_key"]["fingerprint"]) == (old, new)
    assert ledger.signed_head(path).key == new
    assert ledger.verify(path) == []  # from the current key
    assert ledger.verify(path, trusted=old) == []  # from the first key, through the endorsed rotation
    outsider = signing.fingerprint_of(new_pem_pair()[1])
    assert "is not in the ledger's key chain" in ledger.verify(path, trusted=outsider)[0]


def test_a_rotation_not_signed_by_the_old_key_fails_verification(workspace: Path):
    path = workspace / "ledger" / "ledger.jsonl"
    rotate(workspace)
    (statement,) = keychain.statement_files(keychain.rotations_dir(workspace))
    # re-signed by the new key itself (what someone without the old secret could do)
    signing.sign(statement, Path(str(statement) + signing.SIGNATURE_SUFFIX), signing.Keys(workspace))
    assert "not endorsed by the old key" in ledger.verify(path)[0]


def test_another_ledger_of_the_workspace_follows_a_rotation_and_records_it(workspace: Path):
    other = workspace / "ledger" / "text.jsonl"
    ledger.append(other, "event", {})
    old, new = rotate(workspace)
    ledger.append(other, "event", {"after": "rotation"})
    kinds = [e["kind"] for e in ledger.read(other)]
    assert kinds == ["event", keychain.ROTATED, "event"]
    assert ledger.verify(other) == [] and ledger.verify(other, trusted=old) == []


def test_what_a_retired_key_signed_still_verifies(workspace: Path, tmp_path: Path):
    signed = workspace / "statement.json"
    signed.write_text("{}")
    signing.sign(signed, workspace / "statement.sig", signing.Keys(workspace))
    rotate(workspace)
    retired = tuple(keychain.retired_dir(workspace).glob("*.pub"))
    keys = signing.Keys(workspace, retired=retired)
    signing.verify(signed, workspace / "statement.sig", keys.verifying(), label="statement", error=LedgerTampered)
    with pytest.raises(LedgerTampered, match="signed by another key"):
        signing.verify(signed, workspace / "statement.sig", keys.public, label="statement", error=LedgerTampered)
