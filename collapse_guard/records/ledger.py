"""The audit ledger: an append-only JSON-lines file in which every entry holds the hash of the one before.

It answers "what was this model trained on?" long after the fact, and it is the pipeline's memory:
the last anchor the pipeline recorded and the current model come from here, so a tampered ledger is
as serious as a tampered anchor. Editing, removing or reordering any line breaks the chain and
``verify`` names the first broken line.

In a signed workspace the head (``ledger.jsonl.head``: last entry's number and hash, the file's size, and the
fingerprint of the key that signed it) is signed at every append, and the first entry records the signing
key's fingerprint and public key (collapse_guard/records/keychain.py follows rotations). An append is
crash-safe: the new head is written and signed first, as an *intent* (``.head.next`` and its signature), then
the line is appended, then the intent is renamed over the head. Whatever a ``kill -9`` interrupts, the next
append (or ``recover``) finds one of: a torn line (cut back), a complete line named by a signed intent
(adopted: the key that signed the intent is the workspace's, and the line chains), an intent whose line was
never written (dropped), or a renamed head whose signature was not yet moved (finished); a complete line that
no signed intent names is never adopted: without the key, nobody can add one. Each fault point
(``faults.point``) lets a test kill a real process there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collapse_guard.errors import LedgerTampered, SigningKeyError
from collapse_guard.records import atomic, faults, keychain, signing

GENESIS = "0" * 64

# Entry kinds whose body carries an "anchor" the pipeline vouches for (a blocked gate does not).
ANCHOR_RECORDING_KINDS = ("anchor_initialised", "anchor_ingested", "anchor_migrated", "generation_recorded")
RECOVERED = "ledger_recovered"

log = logging.getLogger(__name__)


def entry_hash(entry: dict[str, Any]) -> str:
    content = {k: entry[k] for k in ("seq", "kind", "at", "body", "prev")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read(path: Path) -> list[dict[str, Any]]:
    """The committed entries. A last fragment without its newline is an append a crash tore (a line is committed
    with its newline): it is not an entry, and the next append cuts it back."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # the part after the last newline (usually "") is never committed
    entries = []
    for number, line in enumerate(lines, start=1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise LedgerTampered(f"line {number} is not valid JSON ({exc.msg})", path=str(path)) from exc
    return entries


def verify(path: Path, trusted: str = "") -> list[str]:
    """Every break in the chain, by line number, and any mismatch with the signed head (in a signed
    workspace: against the key whose fingerprint is ``trusted``, by default the workspace's ``signing.pub``);
    an empty list means the ledger is intact. An append a crash interrupted is not a break: ``interrupted``
    says what the next append will do with it."""
    try:
        entries = read(path)
    except LedgerTampered as exc:
        return [str(exc)]
    return chain_problems(entries) + head_problems(path, entries, trusted=trusted)


def chain_problems(entries: list[dict[str, Any]]) -> list[str]:
    problems = []
    prev = GENESIS
    for number, entry in enumerate(entries, start=1):
        try:
            if entry["seq"] != number:
                problems.append(f"line {number}: sequence number {entry['seq']}, expected {number}")
            if entry["prev"] != prev:
                problems.append(f"line {number}: does not follow line {number - 1} (a line was removed or moved)")
            if entry_hash(entry) != entry["hash"]:
                problems.append(f"line {number}: content does not match its hash (the line was edited)")
            prev = entry["hash"]
        except (KeyError, TypeError):
            problems.append(f"line {number}: not a ledger entry")
    return problems


def head_problems(
    path: Path,
    entries: list[dict[str, Any]],
    keys: signing.Keys | None = None,
    *,
    trusted: str = "",
    statements: Path | None = None,
) -> list[str]:
    """In a signed workspace, the signed head must exist and name the ledger's last entry, signed by the key the
    ledger's key chain leads to from the ``trusted`` fingerprint (default: ``keys.public``'s, the workspace's
    own ``signing.pub``): a ledger cut short, deleted, extended or rewritten (even with every hash recomputed)
    no longer matches it without the key. ``statements``: where the rotation statements are (default: the
    workspace's ``.collapse-guard/rotations``). A ledger that records a key but has no public key to check it
    with fails: deleting the keys never turns a signed ledger into an "unsigned" one."""
    path = Path(path)
    keys = keys or signing.keys_for(path.parent)
    head = _read_head(path)
    if keys is None:
        recorded = recorded_key(path, entries)
        if recorded or signature_path(path).exists() or intent_path(path).exists():
            return [
                f"the ledger is signed (by key {signing.short(recorded)}) but the public key "
                f"{signing.KEY_DIR}/{signing.PUBLIC_KEY} is missing: verification needs the key the reviewer "
                "trusts (restore it from the repository; a deleted key never makes a ledger unsigned)"
            ]
        return []
    if not entries and head is None and not signature_path(path).exists():
        return []  # a workspace whose ledger has not started yet
    if head is None and not intent_path(path).exists():
        return [f"the ledger's signed head ({head_path(path).name}) is missing"]
    if not path.exists():
        return [f"the ledger file is missing: its signed head says {head.seq} entries (the ledger was deleted)"]
    try:
        trusted = trusted or signing.public_fingerprint(keys.public)
    except SigningKeyError as exc:
        return [str(exc)]
    verdict = keychain.verify_chain(entries, trusted, statements or keychain.rotations_dir(keys.home))
    if verdict.problems:
        return verdict.problems
    pems = {link.fingerprint: link.public_key for link in verdict.chain}
    allowed = {verdict.current.fingerprint} if verdict.current else {trusted}
    last = entries[-1] if entries else {}
    if verdict.current and last.get("kind") == keychain.ROTATED and last.get("seq") == verdict.current.seq:
        allowed.add(verdict.current.previous)  # the rotation entry itself is appended (and signed) by the old key
    with keychain.pem_files(*pems.values()) as files:
        key_files = dict(zip(pems, files, strict=True))
        key_files.setdefault(trusted, Path(keys.public))

        def key_file(fingerprint: str) -> Path | None:
            named = fingerprint or (verdict.current.fingerprint if verdict.current else trusted)
            return key_files.get(named) if named in allowed else None

        signed, problem = _effective_head(path, entries, key_file)
    if problem:
        return [problem]
    last_seq, last_hash = (last.get("seq"), last.get("hash")) if entries else (0, GENESIS)
    if signed.seq > len(entries):
        return [f"the ledger has {len(entries)} entries, its signed head says {signed.seq} (the ledger was cut short)"]
    if (last_seq, last_hash) != (signed.seq, signed.hash):
        return [
            f"the ledger's last entry (line {len(entries)}, hash {str(last_hash)[:12]}) is not the signed head "
            f"(line {signed.seq}, hash {signed.hash[:12]}): entries were rewritten or appended without the key"
        ]
    return []


def _effective_head(path: Path, entries: list[dict[str, Any]], key_file) -> tuple[Head, str]:
    """The head a valid signature vouches for: the head file (signed by its signature, or, when an append was
    killed between moving the head and its signature, by the intent's signature), or the signed intent of an
    append killed after writing its line. ``key_file(fingerprint)`` is the public key allowed to have signed a
    head naming that key (None: no such key is allowed). Returns (head, "") or (head, the problem)."""
    head = _read_head(path) or Head()
    key = key_file(head.key)
    if key is None:
        return head, (
            f"the signed head names key {signing.short(head.key)}, which is not the key the ledger's key chain "
            "says signs it now"
        )
    problem = _signature_problem(head_path(path), signature_path(path), key)
    moved = intent_signature_path(path).is_file() and not intent_path(path).exists()
    if problem and moved and not _signature_problem(head_path(path), intent_signature_path(path), key):
        problem = ""  # the head was moved into place, its signature not yet: the next append finishes it
    if problem:
        return head, problem
    intent = _read_head_file(intent_path(path))
    if intent is not None and len(entries) == head.seq + 1 and intent.seq == head.seq + 1:
        last = entries[-1]
        intent_key = key_file(intent.key)
        if (
            intent_key is not None
            and (last.get("seq"), last.get("hash")) == (intent.seq, intent.hash)
            and last.get("prev") == head.hash
            and not _signature_problem(intent_path(path), intent_signature_path(path), intent_key)
        ):
            return intent, ""
    return head, ""


def _signature_problem(target: Path, signature: Path, key: Path) -> str:
    try:
        signing.verify(target, signature, key, label=str(target), error=LedgerTampered)
    except LedgerTampered as exc:
        return str(exc)
    return ""


def signature_path(path: Path) -> Path:
    return Path(str(head_path(path)) + signing.SIGNATURE_SUFFIX)


def intent_path(path: Path) -> Path:
    """The head an append is about to commit, signed before its line is written (``ledger.jsonl.head.next``)."""
    return Path(path).with_name(Path(path).name + ".head.next")


def intent_signature_path(path: Path) -> Path:
    return Path(str(intent_path(path)) + signing.SIGNATURE_SUFFIX)


def verify_head(path: Path, keys: signing.Keys) -> None:
    """The head file's signature (O(1): it covers the head, which names the last entry's hash), by the key the
    head names (the workspace's, or the one a recorded rotation retired when the head predates it)."""
    head = _read_head(path) or Head()
    key = _key_file_for(keys, head.key)
    signing.verify(head_path(path), signature_path(path), key, label=str(head_path(path)), error=LedgerTampered)


def signed_head(path: Path) -> Head:
    """The head as recorded (what statements, DVC metadata and MLflow tags repeat so truncation shows)."""
    return _read_head(path) or Head()


def recorded_key(path: Path, entries: list[dict[str, Any]] | None = None) -> str:
    """The fingerprint of the key the ledger expects to sign its next entry: the new key of a rotation that is
    the last entry, else the signed head's key, else the last key the ledger records ("" for a ledger that
    records none). Without ``entries`` it reads the head, the last line and the first line only."""
    if entries is not None:
        chain = keychain.links(entries)
        return chain[-1].fingerprint if chain else ""
    last = _last_entry(path) if Path(path).exists() else None
    if last and last.get("kind") == keychain.ROTATED:
        return str(((last.get("body") or {}).get("signing_key") or {}).get("fingerprint", ""))
    head = _read_head(path)
    if head is not None and head.key:
        return head.key
    first = _first_entry(path)
    chain = keychain.links([first]) if first else []
    return chain[0].fingerprint if chain else ""


def is_signed(path: Path) -> bool:
    """Whether the ledger was ever signed (a signature, an intent, or a recorded key), whatever keys exist now."""
    return (
        signature_path(path).exists()
        or intent_path(path).exists()
        or intent_signature_path(path).exists()
        or bool(recorded_key(path))
    )


def _first_entry(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            line = handle.readline()
        return json.loads(line) if line.endswith(b"\n") else None
    except (OSError, ValueError):
        return None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Head:
    """The last entry's sequence number and hash, the ledger's size in bytes after it, and the fingerprint of
    the key that signed this head ("" in an unsigned workspace, or a head written before keys were recorded).

    Kept beside the ledger (``ledger.jsonl.head``) so an append costs the same however long the history:
    it checks the head against the file's size and last line instead of re-reading every entry.
    ``verify`` still checks the whole chain."""

    seq: int = 0
    hash: str = GENESIS
    size: int = 0
    key: str = ""


def head_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".head")


def append(path: Path, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Append one entry; refuses to extend a chain whose head does not match the file, and, in a signed
    workspace, to sign with any key but the one the ledger expects (SigningKeyError, before anything is
    written). An append a crash interrupted is recovered first (said on stderr, and recorded)."""
    path = Path(path)
    with _locked(path):
        keys, signer = _checked_key(path)
        notes = _recover_locked(path, keys)
        head = _checked_head(path, keys)
        head = _settle_keys(path, keys, head, signer)
        for note, recorded in notes:
            if recorded:
                head, _ = _write_entry(path, keys, head, RECOVERED, {"recovery": note}, signer)
        _, entry = _write_entry(path, keys, head, kind, body, signer)
    for note, _ in notes:
        log.warning("%s [%s]", note, path)
    return entry


def recover(path: Path) -> list[str]:
    """Recover an append a crash interrupted (see the module's docstring) and record it; what was done, one line
    each ([] when there was nothing to do). A signed workspace's key is checked first: nothing is cut or signed
    with a wrong key."""
    path = Path(path)
    if not (
        intent_path(path).exists()
        or intent_signature_path(path).exists()
        or (path.exists() and path.stat().st_size != signed_head(path).size)
    ):
        return []
    with _locked(path):
        keys, signer = _checked_key(path)
        notes = _recover_locked(path, keys)
        if any(recorded for _, recorded in notes) and path.exists():
            head = _settle_keys(path, keys, _checked_head(path, keys), signer)
            for note, recorded in notes:
                if recorded:
                    head, _ = _write_entry(path, keys, head, RECOVERED, {"recovery": note}, signer)
    return [note for note, _ in notes]


def interrupted(path: Path) -> list[str]:
    """What a killed append left that the next append will recover, one line each (read-only)."""
    path = Path(path)
    notes = []
    head = signed_head(path)
    size = path.stat().st_size if path.exists() else 0
    if size > head.size and path.exists():
        with open(path, "rb") as handle:
            handle.seek(head.size)
            tail = handle.read()
        if not tail.endswith(b"\n"):
            notes.append(
                f"a line torn by a killed append ({len(tail)} bytes after line {head.seq}) is not part of the ledger; "
                "the next command that writes to the ledger cuts it back"
            )
    if intent_path(path).exists() or intent_signature_path(path).exists():
        notes.append(
            f"an append after line {head.seq} was killed before its head was committed; the next command that "
            "writes to the ledger adopts its line if the signed intent names it, or drops the intent"
        )
    return notes


def check_key(path: Path) -> str:
    """The fingerprint of the key that will sign the ledger's next entry ("" for an unsigned ledger), after
    checking, without writing anything, that it is the key the ledger expects (or one a recorded rotation,
    endorsed by that key, leads to). SigningKeyError names the key file and the expected fingerprint."""
    return _checked_key(Path(path))[1]


def _checked_key(path: Path) -> tuple[signing.Keys | None, str]:
    keys = _signing_keys(path)
    if keys is None:
        return None, ""
    expected = recorded_key(path)
    signer = signing.check_signer(keys, expected)
    if expected and signer != expected:
        keychain.check_rotation_target(keys.home, expected, signer)
    return keys, signer


def _signing_keys(path: Path) -> signing.Keys | None:
    """The workspace's keys, None for an unsigned ledger; SigningKeyError when the ledger was signed but its
    public key is gone (a deleted key never makes a ledger unsigned)."""
    keys = signing.keys_for(path.parent)
    if keys is None and is_signed(path):
        home = signing.key_home(path.parent)
        where = home / signing.KEY_DIR / signing.PUBLIC_KEY if home else Path(signing.KEY_DIR) / signing.PUBLIC_KEY
        raise SigningKeyError(
            f"the ledger is signed (by key {signing.short(recorded_key(path))}) but the public key is missing: "
            "restore it from the repository (it is committed), never by creating a new key; nothing was written",
            path=str(where),
        )
    return keys


def _key_file_for(keys: signing.Keys, fingerprint: str) -> Path:
    """The public key file of the workspace key ``fingerprint`` ("" : the current one)."""
    if not fingerprint or fingerprint == signing.public_fingerprint(keys.public):
        return keys.public
    pem = keychain.public_pem(keys.home, fingerprint)
    if not pem:
        raise SigningKeyError(
            f"the ledger's head is signed by key {signing.short(fingerprint)}, whose public key is neither "
            f"{signing.KEY_DIR}/{signing.PUBLIC_KEY} nor a retired key of a recorded rotation",
            path=str(keys.public),
        )
    return keychain.write_retired(keys.home, pem)


def _settle_keys(path: Path, keys: signing.Keys | None, head: Head, signer: str) -> Head:
    """Before the caller's entry: a ledger signed before keys were recorded records its key (the head it has was
    just verified with it); a ledger whose key was rotated (by another ledger of the workspace, or by a rotation
    a crash cut short) records the endorsed rotations to the key at hand. Any other key is refused."""
    if keys is None or head.seq == 0:
        return head
    expected = head.key
    if not expected:
        body = {"signing_key": keychain.key_record(keys.public.read_text(encoding="utf-8")), "reason": "first use"}
        return _write_entry(path, keys, head, keychain.RECORDED, body, signer)[0]
    if expected == signer:
        return head
    for rotation in keychain.check_rotation_target(keys.home, expected, signer):
        last = _last_entry(path)
        recorded = (last or {}).get("body", {}).get("signing_key", {}).get("fingerprint")
        if last and last.get("kind") == keychain.ROTATED and recorded == rotation.next["fingerprint"]:
            continue  # this ledger recorded the rotation (the rotation's own ledger, killed before re-signing)
        head = _write_entry(path, keys, head, keychain.ROTATED, rotation_body(rotation), signer)[0]
    return head


def rotation_body(rotation: keychain.Rotation) -> dict[str, Any]:
    return {
        "signing_key": dict(rotation.next),
        "previous": rotation.previous["fingerprint"],
        "statement": rotation.path.name,
        "statement_sha256": rotation.sha256(),
    }


def _write_entry(
    path: Path, keys: signing.Keys | None, head: Head, kind: str, body: dict[str, Any], signer: str
) -> tuple[Head, dict[str, Any]]:
    body = json.loads(json.dumps(body, default=str))
    if keys is not None and head.seq == 0 and "signing_key" not in body:
        body["signing_key"] = keychain.key_record(keys.public.read_text(encoding="utf-8"))
    entry = {
        "seq": head.seq + 1,
        "kind": kind,
        "at": datetime.now(UTC).isoformat(),
        "body": body,
        "prev": head.hash,
    }
    entry["hash"] = entry_hash(entry)
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    new = Head(entry["seq"], entry["hash"], head.size + len(line), signer)
    if keys is not None:
        atomic.write_text(intent_path(path), json.dumps(asdict(new)) + "\n")
        faults.point("ledger.intent_written")
        signing.sign(intent_path(path), intent_signature_path(path), keys)
        faults.point("ledger.intent_signed")
    with open(path, "ab") as handle:
        faults.tear(handle, line, "ledger.line_torn")
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    faults.point("ledger.line_written")
    if keys is None:
        atomic.write_text(head_path(path), json.dumps(asdict(new)) + "\n")
    else:
        _commit_intent(path)
    return new, entry


def _commit_intent(path: Path) -> None:
    os.replace(intent_path(path), head_path(path))
    faults.point("ledger.head_renamed")
    os.replace(intent_signature_path(path), signature_path(path))


def _recover_locked(path: Path, keys: signing.Keys | None) -> list[tuple[str, bool]]:
    """What a killed append left, recovered (see the module's docstring): one (what was done, whether the ledger
    records it) per thing done. A cut or an adopted line is recorded; a dropped intent or a finished signature
    changes no entry and is only said."""
    head = _read_head(path) or Head()
    size = path.stat().st_size if path.exists() else 0
    tail = b""
    if size > head.size and (_read_head(path) is not None or intent_path(path).exists()):
        with open(path, "rb") as handle:
            handle.seek(head.size)
            tail = handle.read()
    torn = f"cut back a line torn by a killed append ({len(tail)} bytes after line {head.seq})"
    intent, intent_signature = intent_path(path), intent_signature_path(path)
    if keys is not None and intent.exists():
        planned = _read_head_file(intent)
        entry = _one_line(tail)
        vouched = (
            planned is not None
            and entry is not None
            and intent_signature.is_file()
            and planned.key == signing.public_fingerprint(keys.public)
            and (entry.get("seq"), entry.get("hash"), entry.get("prev")) == (planned.seq, planned.hash, head.hash)
            and entry_hash(entry) == entry.get("hash")
            and head.size + len(tail) == planned.size
            and not _signature_problem(intent, intent_signature, keys.public)
        )
        if vouched:
            _commit_intent(path)
            said = (
                f"adopted line {planned.seq} ({entry.get('kind')}), written by an append killed before it committed "
                "its head: the intent it signed with the workspace's key names that line"
            )
            return [(said, True)]
        if tail and tail.endswith(b"\n"):
            return []  # a complete line no signed intent names: not adopted (_checked_head reports it)
        notes = [(torn, True)] if tail else []
        if tail:
            os.truncate(path, head.size)
        intent.unlink(missing_ok=True)
        intent_signature.unlink(missing_ok=True)
        dropped = f"dropped the unfinished append after line {head.seq} (killed before its line was complete)"
        return [*notes, (dropped, False)]
    notes = []
    if keys is not None and intent_signature.exists():
        current = _key_file_for(keys, head.key) if head.key else keys.public
        if not _signature_problem(head_path(path), intent_signature, current):
            os.replace(intent_signature, signature_path(path))
            said = f"finished signing the head of line {head.seq} (an append was killed while committing it)"
            notes.append((said, False))
        else:
            intent_signature.unlink()
    if tail and not tail.endswith(b"\n"):
        os.truncate(path, head.size)
        notes.append((torn, True))
    return notes


def _one_line(tail: bytes) -> dict[str, Any] | None:
    if not tail.endswith(b"\n") or tail.count(b"\n") != 1:
        return None
    try:
        entry = json.loads(tail)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _checked_head(path: Path, keys: signing.Keys | None) -> Head:
    """The head, after making sure the file ends where the head says (O(1) in the ledger's length) and, in a
    signed workspace, that the head's signature verifies.

    Unsigned: a line torn by a crash is cut back; a last line written before a crash could update the head is
    adopted if it chains. Signed: ``_recover_locked`` ran first; a line after the signed head is never adopted
    here. Anything else, or a missing head file (a ledger from an older version), falls back to the full
    ``verify`` and rebuilds the head."""
    if keys is not None and _read_head(path) is not None and signature_path(path).exists():
        verify_head(path, keys)  # never extend (and re-sign) a head rewritten without the key
    size = path.stat().st_size if path.exists() else 0
    head = _read_head(path)
    if head is not None and size == head.size:
        if head.seq == 0 or _last_entry_hash(path) == head.hash:
            return head
    elif head is not None and size > head.size:
        with open(path, "rb") as handle:
            handle.seek(head.size)
            tail = handle.read()
        if not tail.endswith(b"\n"):
            os.truncate(path, head.size)  # a torn, uncommitted line
            return head
        adopted = _adopt(tail, head) if keys is None else None  # signed: only a signed intent adopts a line
        if adopted is not None:
            return adopted
    problems = verify(path)
    if problems:
        raise LedgerTampered("ledger failed verification: " + "; ".join(problems), path=str(path))
    entries = read(path)
    last_key = head.key if head is not None else ""
    rebuilt = Head(entries[-1]["seq"], entries[-1]["hash"], size, last_key) if entries else Head(size=size)
    if keys is None:
        atomic.write_text(head_path(path), json.dumps(asdict(rebuilt)) + "\n")
    else:
        _sign_head(path, keys, rebuilt)
    return rebuilt


def _adopt(tail: bytes, head: Head) -> Head | None:
    """A single complete line after the head that chains to it (the head write was lost in a crash)."""
    entry = _one_line(tail)
    if entry is None:
        return None
    chains = entry.get("prev") == head.hash and entry.get("seq") == head.seq + 1
    if chains and entry_hash(entry) == entry.get("hash"):
        return Head(entry["seq"], entry["hash"], head.size + len(tail))
    return None


def _last_entry(path: Path) -> dict[str, Any] | None:
    """The last committed line, parsed (reads at most the last 1 MB)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        handle.seek(max(0, end - (1 << 20)))
        data = handle.read()
    committed = data[: data.rfind(b"\n") + 1] if b"\n" in data else b""
    lines = committed.rstrip(b"\n").rsplit(b"\n", 1)
    try:
        entry = json.loads(lines[-1])
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _last_entry_hash(path: Path) -> str:
    """The hash the last line declares, if its content matches it (reads at most the last 1 MB)."""
    entry = _last_entry(path)
    try:
        return entry["hash"] if entry is not None and entry_hash(entry) == entry["hash"] else ""
    except (KeyError, TypeError):
        return ""


def _read_head(path: Path) -> Head | None:
    return _read_head_file(head_path(path))


def _read_head_file(file: Path) -> Head | None:
    try:
        return Head(**json.loads(Path(file).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _sign_head(path: Path, keys: signing.Keys, head: Head) -> None:
    """Write and sign ``head`` through an intent, as an append does (a crash leaves the old signed head)."""
    signer = signing.check_signer(keys)
    head = Head(head.seq, head.hash, head.size, signer)
    atomic.write_text(intent_path(path), json.dumps(asdict(head)) + "\n")
    signing.sign(intent_path(path), intent_signature_path(path), keys)
    _commit_intent(path)


def seal(path: Path) -> bool:
    """Sign the head of a ledger that has none yet (a workspace adopting signing: its chain must verify
    first, and from then on it cannot be rewritten without the key), and record the key that signs it.
    Returns whether it signed."""
    path = Path(path)
    keys = signing.keys_for(path.parent)
    if keys is None or signature_path(path).exists() or not path.exists():
        return False
    with _locked(path):
        signer = signing.check_signer(keys)
        entries = read(path)
        problems = chain_problems(entries)
        if problems:
            raise LedgerTampered("ledger failed verification: " + "; ".join(problems), path=str(path))
        last = entries[-1] if entries else {"seq": 0, "hash": GENESIS}
        head = Head(last["seq"], last["hash"], path.stat().st_size)
        _sign_head(path, keys, head)
        if entries:
            body = {"signing_key": keychain.key_record(keys.public.read_text(encoding="utf-8")), "reason": "adopted"}
            _write_entry(path, keys, Head(head.seq, head.hash, head.size, signer), keychain.RECORDED, body, signer)
    return True


def sign_head(path: Path) -> None:
    """Re-sign the current head with the workspace's key (a workspace without keys is left unsigned)."""
    keys = signing.keys_for(Path(path).parent)
    head = _read_head(path)
    if keys is not None and head is not None:
        with _locked(Path(path)):
            _sign_head(Path(path), keys, head)


def latest(entries: list[dict[str, Any]], *kinds: str) -> dict[str, Any] | None:
    for entry in reversed(entries):
        if entry["kind"] in kinds:
            return entry
    return None


def lineage(entries: list[dict[str, Any]], generation: int) -> list[dict[str, Any]]:
    """The recorded generations that led to ``generation``, newest first, following parent model ids."""
    by_model = {e["body"]["model_id"]: e for e in entries if e["kind"] == "generation_recorded"}
    current = next(
        (e for e in reversed(entries) if e["kind"] == "generation_recorded" and e["body"]["generation"] == generation),
        None,
    )
    chain = []
    while current is not None:
        chain.append(current)
        current = by_model.get(current["body"].get("parent_model_id") or "")
    return chain
