"""The chain of signing keys a ledger was signed with, and the rotation statements that link them.

The ledger names its keys itself: its first entry (or, for a ledger signed before fingerprints were recorded,
a ``signing_key_recorded`` entry) carries the fingerprint and public key of the key that signs it, and every
``collapse-guard audit rotate-key`` adds a ``signing_key_rotated`` entry naming the old and the new key. The
rotation is endorsed by the old key: a statement (``.collapse-guard/rotations/NNNN-<new>.json``, naming both
keys) signed with the old key, so a reviewer who trusts only the first key follows the chain to the current
one, and nobody can "rotate" to a key of their own without the old secret. The public keys a rotation retired
stay in ``.collapse-guard/retired/`` so what they signed still verifies.

``verify_chain`` is what verification does with a trusted fingerprint: the trusted key must be in the chain,
and every rotation after it must be endorsed by the key before it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collapse_guard.errors import LedgerTampered, SigningKeyError
from collapse_guard.records import atomic, signing

ROTATIONS = "rotations"
FORMAT = "collapse-guard-key-rotation/1"
RECORDED, ROTATED = "signing_key_recorded", "signing_key_rotated"


@dataclass(frozen=True)
class Link:
    """One key of a ledger's chain: where the ledger records it, and (for a rotation) the key it succeeds and
    the statement, signed by that key, that endorses it."""

    fingerprint: str
    public_key: str  # PEM
    seq: int
    previous: str = ""
    statement: str = ""
    statement_sha256: str = ""


def key_record(public_pem: str) -> dict[str, str]:
    """What an entry records of a key: its fingerprint and its public key (PEM), so the ledger alone says which
    key signs it."""
    return {"fingerprint": signing.fingerprint_of(public_pem.encode()), "public_key": public_pem}


def links(entries: list[dict[str, Any]]) -> list[Link]:
    """Every key the ledger records, in order (empty for a ledger that records none: signed before fingerprints
    were recorded, or unsigned)."""
    found = []
    for entry in entries:
        body = entry.get("body") if isinstance(entry, dict) else None
        key = body.get("signing_key") if isinstance(body, dict) else None
        if not isinstance(key, dict):
            continue
        found.append(
            Link(
                fingerprint=str(key.get("fingerprint", "")),
                public_key=str(key.get("public_key", "")),
                seq=int(entry.get("seq", 0)),
                previous=str(body.get("previous", "")),
                statement=str(body.get("statement", "")),
                statement_sha256=str(body.get("statement_sha256", "")),
            )
        )
    return found


def rotations_dir(home: Path) -> Path:
    return Path(home) / signing.KEY_DIR / ROTATIONS


def retired_dir(home: Path) -> Path:
    return Path(home) / signing.KEY_DIR / signing.RETIRED


def retired_file(home: Path, fingerprint: str) -> Path:
    return retired_dir(home) / f"{fingerprint[:16]}.pub"


# -- rotation statements ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rotation:
    """A statement that the key ``previous`` hands over to ``next`` (each a fingerprint and a PEM)."""

    path: Path
    previous: dict[str, str]
    next: dict[str, str]

    @property
    def signature(self) -> Path:
        return Path(str(self.path) + signing.SIGNATURE_SUFFIX)

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def write_rotation(home: Path, old: signing.Keys, new_public_pem: str, reason: str) -> Rotation:
    """Write and sign (with the old key) the statement that hands the workspace over to ``new_public_pem``."""
    folder = rotations_dir(home)
    previous = key_record(Path(old.public).read_text(encoding="utf-8"))
    following = key_record(new_public_pem)
    number = len(statement_files(folder)) + 1
    path = folder / f"{number:04d}-{following['fingerprint'][:16]}.json"
    statement = {
        "format": FORMAT,
        "previous": previous,
        "next": following,
        "at": datetime.now(UTC).isoformat(),
        "reason": reason,
    }
    atomic.write_json(path, statement)
    rotation = Rotation(path, previous, following)
    signing.sign(path, rotation.signature, old)
    return rotation


def read_rotation(path: Path) -> Rotation | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return None
        return Rotation(Path(path), dict(data["previous"]), dict(data["next"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def statement_files(folder: Path) -> list[Path]:
    """The rotation statements in ``folder``, oldest first (not their signatures, which end in .json too)."""
    if not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).glob("*.json") if not p.name.endswith(signing.SIGNATURE_SUFFIX))


def rotations(folder: Path) -> list[Rotation]:
    found = [read_rotation(p) for p in statement_files(folder)]
    return [r for r in found if r is not None]


@contextmanager
def pem_files(*pems: str) -> Iterator[list[Path]]:
    """Public keys (PEM text) as files, for model-signing's verifier, in a private temporary folder."""
    with tempfile.TemporaryDirectory(prefix="collapse-guard-keys-") as folder:
        paths = []
        for number, pem in enumerate(pems):
            path = Path(folder) / f"{number}.pub"
            path.write_text(pem, encoding="utf-8")
            paths.append(path)
        yield paths


def endorsement_problem(rotation: Rotation, previous_pem: str) -> str:
    """Why ``rotation`` is not endorsed by the key ``previous_pem`` ("" when its signature verifies)."""
    if signing.fingerprint_of(previous_pem.encode()) != rotation.previous.get("fingerprint"):
        return f"{rotation.path.name} names another previous key"
    if signing.fingerprint_of(str(rotation.next.get("public_key", "")).encode()) != rotation.next.get("fingerprint"):
        return f"{rotation.path.name}: its new key does not match its fingerprint"
    with pem_files(previous_pem) as (key,):
        try:
            signing.verify(rotation.path, rotation.signature, key, label=rotation.path.name, error=LedgerTampered)
        except LedgerTampered as exc:
            return f"the rotation statement {exc} is not endorsed by the old key"
    return ""


def endorsed_path(home: Path, start: str, start_pem: str, goal: str) -> list[Rotation]:
    """The rotation statements, each signed by the key before it, that lead from key ``start`` to key ``goal``
    in the workspace at ``home`` (empty when none does)."""
    statements = rotations(rotations_dir(home))
    path: list[Rotation] = []
    current, current_pem = start, start_pem
    seen = {start}
    while current != goal:
        step = next(
            (
                r
                for r in statements
                if r.previous.get("fingerprint") == current and not endorsement_problem(r, current_pem)
            ),
            None,
        )
        if step is None or step.next["fingerprint"] in seen:
            return []
        path.append(step)
        current, current_pem = step.next["fingerprint"], step.next["public_key"]
        seen.add(current)
    return path


def public_pem(home: Path, fingerprint: str) -> str:
    """The PEM of a workspace key by fingerprint: the current ``signing.pub`` or a retired copy ("" if neither)."""
    for candidate in (Path(home) / signing.KEY_DIR / signing.PUBLIC_KEY, retired_file(home, fingerprint)):
        try:
            text = candidate.read_text(encoding="utf-8")
            if signing.fingerprint_of(text.encode()) == fingerprint:
                return text
        except (OSError, ValueError):
            continue
    for rotation in rotations(rotations_dir(home)):
        for key in (rotation.previous, rotation.next):
            if key.get("fingerprint") == fingerprint:
                return str(key.get("public_key", ""))
    return ""


def write_retired(home: Path, public_pem_text: str) -> Path:
    fingerprint = signing.fingerprint_of(public_pem_text.encode())
    target = retired_file(home, fingerprint)
    if not target.is_file():
        atomic.write_text(target, public_pem_text)
    return target


# -- verification -------------------------------------------------------------------------------------------
@dataclass
class ChainVerdict:
    """What ``verify_chain`` found: problems, the chain, the key that must sign the head now."""

    problems: list[str]
    chain: list[Link]
    current: Link | None


def verify_chain(entries: list[dict[str, Any]], trusted: str, statements: Path) -> ChainVerdict:
    """Check the ledger's key chain against the fingerprint the verifier trusts: the trusted key is in it, every
    key's fingerprint matches its public key, and every rotation after the trusted key is endorsed (signed) by
    the key before it, through the statement in ``statements`` the ledger names by name and sha256.
    A ledger that records no key has an empty chain (the caller verifies with the trusted key alone)."""
    chain = links(entries)
    problems: list[str] = []
    if not chain:
        return ChainVerdict([], [], None)
    for link in chain:
        try:
            matches = signing.fingerprint_of(link.public_key.encode()) == link.fingerprint
        except ValueError:
            matches = False
        if not matches:
            problems.append(f"line {link.seq}: the recorded public key does not match its fingerprint")
    for before, link in zip(chain, chain[1:], strict=False):
        if link.fingerprint == before.fingerprint:
            continue  # the same key recorded again
        if link.previous != before.fingerprint:
            problems.append(
                f"line {link.seq}: records key {signing.short(link.fingerprint)} in place of "
                f"{signing.short(before.fingerprint)} without a rotation from it"
            )
    if problems:
        return ChainVerdict(problems, chain, chain[-1])
    fingerprints = [link.fingerprint for link in chain]
    if trusted not in fingerprints:
        shown = " -> ".join(signing.short(f) for f in dict.fromkeys(fingerprints))
        return ChainVerdict(
            [f"the trusted key {signing.short(trusted)} is not in the ledger's key chain ({shown})"],
            chain,
            chain[-1],
        )
    for before, link in zip(chain, chain[1:], strict=False):  # every rotation, not only those after the trusted key
        if link.fingerprint == before.fingerprint:
            continue
        problems += _rotation_problems(link, before, statements)
    return ChainVerdict(problems, chain, chain[-1])


def _rotation_problems(link: Link, before: Link, statements: Path) -> list[str]:
    where = f"line {link.seq} (rotation to key {signing.short(link.fingerprint)})"
    path = Path(statements) / link.statement
    if not link.statement or not path.is_file():
        return [f"{where}: its rotation statement {link.statement or '(unnamed)'} is missing"]
    rotation = read_rotation(path)
    if rotation is None:
        return [f"{where}: {link.statement} is not a rotation statement"]
    if rotation.sha256() != link.statement_sha256:
        return [f"{where}: {link.statement} is not the statement the ledger recorded (edited)"]
    if (rotation.previous.get("fingerprint"), rotation.next.get("fingerprint")) != (
        before.fingerprint,
        link.fingerprint,
    ):
        return [f"{where}: {link.statement} names other keys than the ledger"]
    problem = endorsement_problem(rotation, before.public_key)
    return [f"{where}: {problem}"] if problem else []


def check_rotation_target(home: Path, expected: str, signer: str) -> list[Rotation]:
    """The endorsed rotations from the key the ledger expects to the key at hand, or SigningKeyError."""
    pem = public_pem(home, expected)
    path = endorsed_path(home, expected, pem, signer) if pem else []
    if not path:
        staged = Path(home) / signing.KEY_DIR / (signing.PRIVATE_KEY + ".next")
        interrupted = (
            f"; a rotation was interrupted: run {signing.ROTATE} again to finish it" if staged.is_file() else ""
        )
        raise SigningKeyError(
            f"the workspace's key is {signing.short(signer)}, but the ledger expects key {signing.short(expected)} "
            f"and no rotation statement signed by it hands over to this key: put the right key pair back "
            f"({signing.KEY_DIR}/{signing.PRIVATE_KEY} and {signing.PUBLIC_KEY}; nothing was written), or rotate "
            f"with {signing.ROTATE} while holding the old key{interrupted}",
            path=str(Path(home) / signing.KEY_DIR / signing.PUBLIC_KEY),
        )
    return path
