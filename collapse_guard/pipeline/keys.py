"""Keys are part of the trail: checked before any command writes, never created for an initialised workspace,
changed only by an explicit, recorded rotation (``collapse-guard audit rotate-key``).

- ``check``: every command that would sign (``init``, ``run``, ``ingest``, ``promote``, ``rollback``,
  ``experiment``) calls it before it writes anything: the signing key must be readable, private to its owner,
  the half of ``signing.pub`` and the key the ledger expects (its fingerprint is in the ledger and in the
  signed head); the watermark key likewise (collapse_guard/text/keyring.py). Each failure is a
  SigningKeyError (exit 11) naming the key file and the expected fingerprint or key id.
- ``rotate_signing_key``: a new key pair, endorsed by the old key (a signed rotation statement), recorded in the
  ledger with both fingerprints; the old public key is kept in ``.collapse-guard/retired/``. On a workspace
  that predates signing (a ledger, no key, nothing ever signed) the same command adopts signing instead,
  explicitly: it creates the first key pair and signs the chain as it is.
- ``rotate_watermark_key``: a new watermark key; the old one is retired (still screened) and the ledger
  records both key ids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from collapse_guard.config import Params
from collapse_guard.errors import ConfigError, SigningKeyError
from collapse_guard.pipeline import trust
from collapse_guard.records import atomic, keychain, ledger, signing
from collapse_guard.records.workspace import relative

ROTATED_WATERMARK = "watermark_key_rotated"


def check(params: Params) -> str:
    """Raise SigningKeyError unless the workspace's keys are the ones its trail expects; returns the signing key's
    fingerprint ("" for a workspace with nothing recorded and no key yet). Reads, never writes."""
    keys = signing.Keys(params.workspace)
    if not keys.public.is_file() and initialised(params) and not ledger.is_signed(params.ledger_path):
        marks = trust.signed_statements(params)
        if marks:
            raise SigningKeyError(
                f"the workspace's records are signed ({relative(params, marks[0])}) but the public key is "
                "missing: restore it from the repository (it is committed), never by creating a new key",
                path=relative(params, keys.public),
            )
        raise SigningKeyError(
            f"the ledger {params.paths.ledger} has entries but the workspace has no signing key, and a key is "
            "never created for an initialised workspace: to sign a workspace made before signing existed, adopt "
            "signing explicitly with `collapse-guard audit rotate-key` (it signs the chain as it is)",
            path=relative(params, keys.public),
        )
    fingerprint = ledger.check_key(params.ledger_path)
    from collapse_guard.modality.registry import modality_for

    modality_for(params).check_keys()
    return fingerprint


def fingerprint_file(params: Params) -> list[str]:
    """``signing.pub.fingerprint`` beside a public key that lacks it (a workspace signed before it existed)."""
    keys = signing.Keys(params.workspace)
    sidecar = keys.home / signing.KEY_DIR / signing.FINGERPRINT
    if not keys.public.is_file() or sidecar.is_file():
        return []
    fingerprint = signing.write_fingerprint(keys)
    return [f"fingerprint file {signing.KEY_DIR}/{signing.FINGERPRINT} ({signing.short(fingerprint)}: commit it)"]


def initialised(params: Params) -> bool:
    """Whether the workspace has recorded anything (its ledger has an entry): from then on no key is created."""
    try:
        return params.ledger_path.stat().st_size > 0
    except OSError:
        return False


@dataclass(frozen=True)
class VerificationKey:
    """The key a verification starts from: its fingerprint ("" for an unsigned workspace), where it came from,
    and whether the reviewer gave it (``--public-key`` or ``--fingerprint``) rather than the workspace."""

    fingerprint: str
    source: str
    pinned: bool = False

    @property
    def short(self) -> str:
        return signing.short(self.fingerprint)

    def to_dict(self) -> dict:
        return {"key": {"fingerprint": self.fingerprint, "short": self.short, "source": self.source}}


def verification_key(params: Params, public_key: Path | None = None, fingerprint: str | None = None) -> VerificationKey:
    """The key ``audit verify`` checks a workspace against: the reviewer's (a PEM file, or a pinned fingerprint)
    when given, else the workspace's committed ``signing.pub``."""
    if public_key is not None:
        return VerificationKey(signing.public_fingerprint(Path(public_key)), f"--public-key {public_key}", True)
    if fingerprint:
        return VerificationKey(signing.normalised(fingerprint), "--fingerprint", True)
    own = signing.Keys(params.workspace).public
    try:
        found = signing.public_fingerprint(own) if own.is_file() else ""
    except SigningKeyError:
        found = ""
    return VerificationKey(found, f"the workspace's {signing.KEY_DIR}/{signing.PUBLIC_KEY}")


# -- the signing key ----------------------------------------------------------------------------------------
def rotate_signing_key(params: Params, new_key: Path | None = None, reason: str = "rotated by hand") -> dict:
    """Hand the workspace over to a new signing key (``new_key``: a PEM private key kept outside the workspace,
    e.g. for a secret held in ``COLLAPSE_GUARD_SIGNING_KEY``; default: a fresh key pair in ``.collapse-guard/``).

    Order, so a crash at any point is finished by running the command again: the new secret is staged
    (``signing.key.next``); the old key signs the rotation statement; the ledger records the rotation (appended
    with the old key); the old public key is kept in ``retired/``; the new pair is moved into place; the head
    is re-signed with the new key."""
    keys = signing.Keys(params.workspace)
    if not keys.public.is_file() and not ledger.is_signed(params.ledger_path) and not trust.signed_statements(params):
        return adopt_signing(params)
    resumed = _resume_rotation(params, keys)
    if resumed:
        return resumed
    old = check(params)
    from_env = bool(os.environ.get(signing.KEY_ENV, "").strip())
    if from_env and new_key is None:
        raise ConfigError(
            f"the signing key comes from {signing.KEY_ENV}: pass the new key with --new-key (a PEM file kept outside "
            "the workspace), then point the variable at it"
        )
    staged = _staged(keys)
    new_pem = signing.public_pem_of(Path(new_key)) if new_key is not None else signing.new_private_key(staged)
    new = signing.fingerprint_of(new_pem.encode())
    if new == old:
        raise ConfigError("the new key is the workspace's current key: nothing to rotate", path=str(new_key or ""))
    rotation = keychain.write_rotation(params.workspace, keys, new_pem, reason)
    keychain.write_retired(params.workspace, keys.public.read_text(encoding="utf-8"))
    ledger.append(params.ledger_path, keychain.ROTATED, {**ledger.rotation_body(rotation), "reason": reason})
    return _install(params, keys, old, new_pem, staged if new_key is None else None)


def _staged(keys: signing.Keys) -> Path:
    return keys.private.with_name(signing.PRIVATE_KEY + ".next")


def _install(params: Params, keys: signing.Keys, old: str, new_pem: str, staged: Path | None) -> dict:
    if staged is not None:
        os.replace(staged, keys.private)
    atomic.write_text(keys.public, new_pem)
    new = signing.write_fingerprint(keys)
    said = f"signing key rotated: {signing.short(old)} -> {signing.short(new)}"
    try:
        ledger.sign_head(params.ledger_path)
    except SigningKeyError:
        said += f" (set {signing.KEY_ENV} to the new key before the next command: it signs the head then)"
    return {
        "rotated": "signing key",
        "previous": old,
        "next": new,
        "retired": relative(params, keychain.retired_file(params.workspace, old)),
        "message": said,
    }


def _resume_rotation(params: Params, keys: signing.Keys) -> dict | None:
    """A rotation killed after the ledger recorded it (signed by the old key, so the ledger must verify from the
    key still in place) but before the new key was: finish it with the key the ledger recorded."""
    entries = ledger.read(params.ledger_path)
    last = entries[-1] if entries else {}
    if last.get("kind") != keychain.ROTATED or not keys.public.is_file():
        return None
    recorded = last["body"]["signing_key"]
    if signing.public_fingerprint(keys.public) == recorded.get("fingerprint"):
        return None  # already in place
    problems = ledger.verify(params.ledger_path)
    if problems:
        from collapse_guard.errors import LedgerTampered

        raise LedgerTampered("; ".join(problems), path=relative(params, params.ledger_path))
    staged = _staged(keys)
    ready = (
        staged.is_file() and signing.fingerprint_of(signing.public_pem_of(staged).encode()) == recorded["fingerprint"]
    )
    return _install(
        params, keys, str(last["body"].get("previous", "")), recorded["public_key"], staged if ready else None
    )


def adopt_signing(params: Params) -> dict:
    """Sign a workspace made before signing existed, explicitly: a first key pair, the chain signed as it is (it
    must verify first) with the key recorded, and the anchor's statement signed."""
    from collapse_guard.records import anchor as anchor_mod

    problems = ledger.chain_problems(ledger.read(params.ledger_path))
    if problems:
        raise ConfigError("the ledger does not verify; not adopting signing: " + "; ".join(problems))
    created = signing.create_keys(params.workspace)
    ledger.seal(params.ledger_path)
    recorded = trust.recorded_anchor(params)
    if recorded is not None and anchor_mod.exists(params.anchor_path):
        trust.sign_anchor(params, anchor_mod.load(params.anchor_path), recorded)
    fingerprint = signing.public_fingerprint(signing.Keys(params.workspace).public)
    return {
        "rotated": "adopted signing",
        "previous": "",
        "next": fingerprint,
        "created": created,
        "message": f"adopted signing: key {signing.short(fingerprint)} signs the existing ledger as it is",
    }


# -- the watermark key ---------------------------------------------------------------------------------------
def rotate_watermark_key(params: Params, reason: str = "rotated by hand") -> dict:
    """A new watermark key for a text workspace: the old key file is kept in ``watermark-retired/`` (screening
    still recognises what it marked), ``watermark.json`` marks it retired and the new one current, and the ledger
    records both key ids. A key from ``COLLAPSE_GUARD_WATERMARK_KEY`` is rotated by changing the variable's
    holder instead (refused here). A rotation killed midway is finished by running the command again."""
    from collapse_guard.modality.registry import modality_for
    from collapse_guard.text import keyring, watermark

    if params.data.modality != "text" or not params.text.watermark.enabled:
        raise ConfigError("only a text workspace with text.watermark.enabled has a watermark key to rotate")
    modality = modality_for(params)
    key_file, record_file = modality.key_file, modality.key_record_file
    if os.environ.get(watermark.KEY_ENV):
        raise ConfigError(
            f"the watermark key comes from {watermark.KEY_ENV}: rotate it where that secret is kept, and record "
            "the old key's file in text.watermark.known_key_files"
        )
    ledger.check_key(params.ledger_path)
    staged = keyring.staged_key_path(key_file)
    if staged.is_file():  # a rotation killed after the ledger recorded it: finish it with the key it recorded
        new = watermark.read_key_file(staged)
        recorded = ledger.latest(ledger.read(params.ledger_path), ROTATED_WATERMARK)
        if recorded is not None and recorded["body"]["next"] == new.key_id:
            keyring.rotate_record(record_file, recorded["body"]["previous"], new.key_id)
            os.replace(staged, key_file)
            return _rotated(params, recorded["body"]["previous"], new.key_id, key_file)
        staged.unlink()  # killed before the ledger recorded it: that key was never used
    old = keyring.current_key(key_file, record_file)
    kept = keyring.retired_key_path(key_file, old.key_id)
    with atomic.atomic_path(kept) as tmp:
        tmp.chmod(0o600)
        tmp.write_bytes(Path(key_file).read_bytes())
    new = watermark.create_key_file(staged)
    ledger.append(
        params.ledger_path,
        ROTATED_WATERMARK,
        {"previous": old.key_id, "next": new.key_id, "retired_key_file": relative(params, kept), "reason": reason},
    )
    keyring.rotate_record(record_file, old.key_id, new.key_id)
    os.replace(staged, key_file)
    return _rotated(params, old.key_id, new.key_id, key_file)


def _rotated(params: Params, old: str, new: str, key_file: Path) -> dict:
    from collapse_guard.text import keyring

    return {
        "rotated": "watermark key",
        "previous": old,
        "next": new,
        "retired": relative(params, keyring.retired_key_path(key_file, old)),
        "message": f"watermark key rotated: {old} -> {new} (the old key is retired, still screened)",
    }
