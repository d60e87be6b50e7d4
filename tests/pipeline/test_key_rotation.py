"""A key rotation is finished by running it again when a crash cut it short, and it is recorded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from collapse_guard.errors import SigningKeyError
from collapse_guard.modality.registry import load_params
from collapse_guard.pipeline import keys
from collapse_guard.records import keychain, ledger, signing
from tests.conftest import TINY_TEXT, write_params


def crash(*args, **kwargs):
    raise RuntimeError("killed")


def test_a_signing_key_rotation_cut_short_is_finished_by_running_it_again(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    params = load_params(write_params(tmp_path))
    signing.create_keys(tmp_path)
    ledger.append(params.ledger_path, "event", {})
    monkeypatch.setattr(keys, "_install", crash)  # the ledger recorded the rotation; the new key is not in place
    with pytest.raises(RuntimeError):
        keys.rotate_signing_key(params)
    monkeypatch.undo()
    with pytest.raises(SigningKeyError, match="rotation was interrupted"):
        keys.check(params)

    done = keys.rotate_signing_key(params)

    rotations = [e for e in ledger.read(params.ledger_path) if e["kind"] == keychain.ROTATED]
    assert len(rotations) == 1 and rotations[0]["body"]["signing_key"]["fingerprint"] == done["next"]
    assert keys.check(params) == done["next"] and ledger.verify(params.ledger_path) == []
    assert ledger.verify(params.ledger_path, trusted=done["previous"]) == []


def test_a_watermark_rotation_cut_short_is_finished_by_running_it_again(tmp_path: Path, monkeypatch):
    from collapse_guard.text import keyring
    from collapse_guard.text.modality import TextModality
    from collapse_guard.text.watermark import KEY_ENV

    monkeypatch.delenv(KEY_ENV, raising=False)
    params = load_params(write_params(tmp_path, "examples/text/params.yaml", TINY_TEXT))
    modality = TextModality(params)
    modality.prepare_workspace()
    old = modality.watermark().key.key_id
    monkeypatch.setattr(keyring, "rotate_record", crash)  # the ledger recorded it; the record did not move yet
    with pytest.raises(RuntimeError):
        keys.rotate_watermark_key(params)
    monkeypatch.undo()

    done = keys.rotate_watermark_key(params)

    recorded = [e["body"] for e in ledger.read(params.ledger_path) if e["kind"] == keys.ROTATED_WATERMARK]
    assert [(r["previous"], r["next"]) for r in recorded] == [(old, done["next"])]
    assert TextModality(params).watermark().key.key_id == done["next"]
    assert set(TextModality(params).screen().keys) == {old, done["next"]}
