"""Signatures with OpenSSF model-signing and a local key: what verifies, and what a changed byte does."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from collapse_guard.errors import DataError
from collapse_guard.records import signing


@pytest.fixture
def keys(tmp_path: Path, monkeypatch) -> signing.Keys:
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    signing.create_keys(tmp_path)
    return signing.Keys(tmp_path)


def test_init_keys_are_private_git_ignored_and_never_overwritten(keys: signing.Keys, tmp_path: Path):
    assert stat.S_IMODE(os.stat(keys.private).st_mode) == 0o600
    assert "/.collapse-guard/signing.key" in (tmp_path / ".gitignore").read_text().splitlines()
    assert keys.public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = keys.private.read_bytes()
    assert signing.create_keys(tmp_path) == []
    assert keys.private.read_bytes() == before


def test_keys_are_found_from_any_folder_below_the_workspace(keys: signing.Keys, tmp_path: Path):
    (tmp_path / "ledger" / "deep").mkdir(parents=True)
    assert signing.keys_for(tmp_path / "ledger" / "deep") == keys
    assert signing.keys_for(tmp_path.parent) is None or signing.keys_for(tmp_path.parent) != keys


def test_a_signed_folder_verifies_and_a_single_byte_change_names_the_file(keys: signing.Keys, tmp_path: Path):
    folder = tmp_path / "gen_001"
    folder.mkdir()
    (folder / "a.parquet").write_bytes(b"abc" * 100)
    (folder / "model.pt").write_bytes(b"weights")
    signature = folder / "signature.sigstore.json"
    signing.sign(folder, signature, keys)
    signing.verify(folder, signature, keys.public, label="gen_001", error=DataError)
    (folder / "a.parquet").write_bytes(b"abd" + b"abc" * 99)
    with pytest.raises(DataError, match="a.parquet") as caught:
        signing.verify(folder, signature, keys.public, label="gen_001", error=DataError)
    assert "gen_001" in str(caught.value)


def test_an_added_file_or_another_key_fails(keys: signing.Keys, tmp_path: Path):
    folder = tmp_path / "gen"
    folder.mkdir()
    (folder / "x.json").write_text("{}")
    signing.sign(folder, folder / "sig.sigstore.json", keys)
    (folder / "extra.parquet").write_text("smuggled")
    with pytest.raises(DataError, match="does not verify"):
        signing.verify(folder, folder / "sig.sigstore.json", keys.public, label="gen", error=DataError)
    (folder / "extra.parquet").unlink()
    other = tmp_path / "other"
    other.mkdir()
    signing.create_keys(other)
    with pytest.raises(DataError, match="does not verify"):
        signing.verify(folder, folder / "sig.sigstore.json", signing.Keys(other).public, label="gen", error=DataError)


def test_the_secret_can_come_from_the_environment(tmp_path: Path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    monkeypatch.setenv(signing.KEY_ENV, pem.decode())
    signing.create_keys(tmp_path)
    keys = signing.Keys(tmp_path)
    assert keys.public.is_file() and not keys.private.exists()  # the secret never lands in the workspace
    target = tmp_path / "file.txt"
    target.write_text("hello")
    signing.sign(target, tmp_path / "file.sig", keys)
    signing.verify(target, tmp_path / "file.sig", keys.public, label="file.txt", error=DataError)


def test_sorted_ids_digest_ignores_order_but_not_membership():
    assert signing.sorted_ids_digest(["b", "a"]) == signing.sorted_ids_digest(["a", "b"])
    assert signing.sorted_ids_digest(["a", "b"]) != signing.sorted_ids_digest(["a", "c"])
