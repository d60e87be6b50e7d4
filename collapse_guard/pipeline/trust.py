"""Trust checks of a signed workspace, before anything is used and after anything is recorded.

- Before a generation: the anchor is the version its signed statement names (a missing or altered anchor
  is restored from the DVC cache or remote to the last recorded version, never re-created from the
  source), and every recorded generation folder (synthetic batches, mixtures, models) verifies.
- After a generation: its folder is signed with a statement in C2PA's vocabulary.
- Always: the ledger is at least as long as every signed statement saw (deleting or cutting the ledger
  and its signed head together still shows).

A workspace without a public key (``.collapse-guard/signing.pub``) skips all of this only if nothing in it was
ever signed: one whose ledger or statements are signed but whose key is gone fails (collapse_guard/pipeline/
keys.py stops every command that would write; ``audit_problems`` fails verification). Signatures made with a key a
recorded rotation retired still verify (``workspace_keys``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from collapse_guard.config import Params
from collapse_guard.errors import AnchorIntegrityError, CollapseGuardError, DataError, LedgerTampered
from collapse_guard.records import anchor as anchor_mod
from collapse_guard.records import attestation, keychain, ledger, signing, versioning
from collapse_guard.records.anchor import read_records
from collapse_guard.records.provenance import RECORD_ID
from collapse_guard.records.workspace import generation_paths, relative


def workspace_keys(params: Params) -> signing.Keys | None:
    """The workspace's keys, with the retired public keys its ledger's key chain names (what they signed before
    a rotation still verifies); None for an unsigned workspace."""
    keys = signing.Keys(params.workspace)
    if not keys.public.is_file():
        return None
    return signing.Keys(params.workspace, retired=retired_keys(params, keys))


def retired_keys(params: Params, keys: signing.Keys) -> tuple[Path, ...]:
    """The public key files of the keys the ledger's chain names besides the current one (a missing copy in
    ``.collapse-guard/retired/`` is written from the ledger, which records every key's public half)."""
    try:
        chain = keychain.links(ledger.read(params.ledger_path))
        current = signing.public_fingerprint(keys.public)
    except CollapseGuardError:
        return ()
    older = {link.fingerprint: link.public_key for link in chain if link.fingerprint != current}
    files = []
    for fingerprint, pem in older.items():
        try:
            if signing.fingerprint_of(pem.encode()) == fingerprint:
                files.append(keychain.write_retired(params.workspace, pem))
        except ValueError:
            continue
    return tuple(files)


# -- the anchor ---------------------------------------------------------------------------------------------
def recorded_anchor(params: Params) -> dict[str, Any] | None:
    entry = ledger.latest(ledger.read(params.ledger_path), *ledger.ANCHOR_RECORDING_KINDS)
    return entry["body"]["anchor"] if entry else None


def anchor_differences(params: Params, keys: signing.Keys) -> str:
    """What differs between the anchor on disk and its last signed version ("" when nothing does)."""
    label = relative(params, params.anchor_path)
    try:
        attestation.verify_anchor(params.anchor_path, keys, label)
    except AnchorIntegrityError as exc:
        return f"{exc}{_row_difference(params)}"
    return ""


def _row_difference(params: Params) -> str:
    recorded = recorded_anchor(params)
    if recorded is None or not anchor_mod.exists(params.anchor_path):
        return ""
    try:
        frame = anchor_mod.load(params.anchor_path)
    except CollapseGuardError:
        return "; the anchor is not readable"
    problems = anchor_mod.check_append_only(
        frame, anchor_mod.AnchorRecord(**recorded), relative(params, params.anchor_path)
    )
    if problems:
        return "; " + "; ".join(problems)
    if len(frame) > recorded["rows"]:
        return f"; {len(frame) - recorded['rows']} rows were appended outside `ingest`"
    return "; same record ids, so a value was edited"


def restore_anchor(params: Params, keys: signing.Keys) -> str:
    """Put back the last recorded anchor version from the DVC cache or the local remote, by the md5 the
    ledger recorded (a dataset part by part, its manifest last); returns what was done ("" when the anchor
    already matched its signed version)."""
    problem = anchor_differences(params, keys)
    if not problem:
        return ""
    recorded = recorded_anchor(params)
    md5 = (recorded or {}).get("dvc_md5", "")
    source = (
        versioning.restore(
            params.workspace, params.tracking.dvc_remote, md5, params.anchor_path, last=anchor_mod.MANIFEST
        )
        if md5
        else None
    )
    if source is None:
        raise AnchorIntegrityError(
            f"{problem}; and the last recorded version (DVC md5 {md5 or 'unknown'}) is in neither the DVC cache "
            "nor the remote: restore it with `dvc pull` or from a backup",
            path=relative(params, params.anchor_path),
        )
    still = anchor_differences(params, keys)
    if still:
        raise AnchorIntegrityError(f"{problem}; the stored copy does not verify either: {still}")
    return (
        f"restored the anchor {relative(params, params.anchor_path)} to its last recorded version "
        f"(DVC md5 {md5}, {recorded['rows']} rows) from {relative(params, source)}: {problem}"
    )


def sign_anchor(params: Params, frame: pd.DataFrame, record: dict[str, Any]) -> None:
    keys = workspace_keys(params)
    if keys is not None:
        attestation.sign_anchor(params.anchor_path, frame, record, keys, ledger.signed_head(params.ledger_path))


# -- generations --------------------------------------------------------------------------------------------
def verify_generations(params: Params, last_generation: int | None) -> int:
    """Verify every recorded generation's folder (0 .. ``last_generation``); returns how many verified."""
    keys = workspace_keys(params)
    if keys is None or last_generation is None:
        return 0
    anchor_ids: set[str] | None = None
    for generation in range(last_generation + 1):
        paths = generation_paths(params, generation)
        label = relative(params, paths.dir)
        try:
            attestation.verify_generation(paths.dir, keys, label)
        except DataError as exc:
            if anchor_ids is None:
                anchor_ids = set(anchor_mod.load(params.anchor_path)[RECORD_ID].astype(str))
            batch = _readable(paths.synthetic)
            raise attestation.binding_error(relative(params, paths.synthetic), exc, batch, anchor_ids) from exc
    return last_generation + 1


def _readable(path: Path) -> pd.DataFrame | None:
    try:
        return read_records(path)
    except CollapseGuardError:
        return None


def sign_generation(params: Params, folder: Path, statement: dict[str, Any]) -> bool:
    keys = workspace_keys(params)
    if keys is None:
        return False
    attestation.sign_generation(folder, statement, keys)
    return True


# -- the ledger's witnesses ---------------------------------------------------------------------------------
def witness_problems(params: Params) -> list[str]:
    """The ledger is shorter than a signed statement saw: it was cut or deleted with its head."""
    if workspace_keys(params) is None:
        return []
    entries = len(ledger.read(params.ledger_path)) if params.ledger_path.exists() else 0
    problems = []
    for label, statement_path in _statements(params):
        seen = attestation.witnessed_head(attestation.read_statement(statement_path))
        if seen > entries:
            what = "is missing" if not params.ledger_path.exists() else f"has {entries} entries"
            problems.append(
                f"the ledger {what}, but the signed statement of {label} saw {seen} entries "
                "(the ledger was deleted or cut short)"
            )
    return problems


def check_witnesses(params: Params) -> None:
    problems = witness_problems(params)
    if problems:
        raise LedgerTampered("; ".join(problems), path=relative(params, params.ledger_path))


def _statements(params: Params) -> list[tuple[str, Path]]:
    found = []
    anchor_statement = attestation.anchor_statement_path(params.anchor_path)
    if anchor_statement.is_file():
        found.append((relative(params, params.anchor_path), anchor_statement))
    generations = params.resolve(params.paths.generations_dir)
    for statement in sorted(generations.glob(f"gen_*/{attestation.STATEMENT}")):
        found.append((relative(params, statement.parent), statement))
    return found


def signed_statements(params: Params) -> list[Path]:
    """Signatures the workspace holds beside its ledger: its anchor's and its generations' (they outlive a
    deleted ledger signature, so a stripped ledger still shows it was signed)."""
    from collapse_guard.records import attestation

    found = [attestation.anchor_signature_path(params.anchor_path)]
    found += sorted(params.resolve(params.paths.generations_dir).glob(f"gen_*/{attestation.SIGNATURE}"))
    return [p for p in found if p.is_file()]


def audit_problems(params: Params) -> list[str]:
    """What ``audit verify`` adds to the ledger's own checks in a signed workspace: the keys are there (signed
    statements without a public key fail), the fingerprint file matches the public key, the witnesses, the
    anchor's signed version and every recorded generation's signature."""
    keys = workspace_keys(params)
    if keys is None:
        signed = signed_statements(params)
        if signed:
            return [
                f"the workspace's records are signed ({relative(params, signed[0])}) but the public key "
                f"{signing.KEY_DIR}/{signing.PUBLIC_KEY} is missing: verification needs the key the reviewer trusts"
            ]
        return []
    problems = _fingerprint_file_problems(keys) + witness_problems(params)
    if problems:
        return problems
    differences = anchor_differences(params, keys)
    if differences:
        problems.append(differences)
    recorded = ledger.latest(ledger.read(params.ledger_path), "generation_recorded")
    try:
        verify_generations(params, recorded["body"]["generation"] if recorded else None)
    except CollapseGuardError as exc:
        problems.append(str(exc))
    return problems


def _fingerprint_file_problems(keys: signing.Keys) -> list[str]:
    """``signing.pub.fingerprint`` (what reviewers pin) must name the committed public key."""
    sidecar = keys.home / signing.KEY_DIR / signing.FINGERPRINT
    if not sidecar.is_file():
        return []
    try:
        named = signing.normalised(sidecar.read_text(encoding="utf-8").split()[0])
        actual = signing.public_fingerprint(keys.public)
    except (CollapseGuardError, IndexError):
        return [f"{signing.KEY_DIR}/{signing.FINGERPRINT} is not a fingerprint"]
    if named != actual:
        return [
            f"{signing.KEY_DIR}/{signing.FINGERPRINT} names key {signing.short(named)}, but "
            f"{signing.KEY_DIR}/{signing.PUBLIC_KEY} is key {signing.short(actual)}"
        ]
    return []
