"""The audit ledger: an append-only JSON-lines file in which every entry holds the hash of the one before.

It answers "what was this model trained on?" long after the fact, and it is the pipeline's memory:
the last anchor the pipeline recorded and the current model come from here, so a tampered ledger is
as serious as a tampered anchor. Editing, removing or reordering any line breaks the chain and
``verify`` names the first broken line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collapse_guard.errors import LedgerTampered
from collapse_guard.records import atomic, signing

GENESIS = "0" * 64

# Entry kinds whose body carries an "anchor" the pipeline vouches for (a blocked gate does not).
ANCHOR_RECORDING_KINDS = ("anchor_initialised", "anchor_ingested", "anchor_migrated", "generation_recorded")


def entry_hash(entry: dict[str, Any]) -> str:
    content = {k: entry[k] for k in ("seq", "kind", "at", "body", "prev")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise LedgerTampered(f"line {number} is not valid JSON ({exc.msg})", path=str(path)) from exc
    return entries


def verify(path: Path) -> list[str]:
    """Every break in the chain, by line number, and any mismatch with the signed head (in a signed
    workspace); an empty list means the ledger is intact."""
    try:
        entries = read(path)
    except LedgerTampered as exc:
        return [str(exc)]
    return chain_problems(entries) + head_problems(path, entries)


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


def head_problems(path: Path, entries: list[dict[str, Any]], keys: signing.Keys | None = None) -> list[str]:
    """In a signed workspace, the signed head must exist and name the ledger's last entry: a ledger cut short,
    deleted, extended or rewritten (even with every hash recomputed) no longer matches it without the key."""
    keys = keys or signing.keys_for(Path(path).parent)
    if keys is None:
        return []
    head = _read_head(path)
    if not entries and head is None and not signature_path(path).exists():
        return []  # a workspace whose ledger has not started yet
    if head is None:
        return [f"the ledger's signed head ({head_path(path).name}) is missing"]
    try:
        verify_head(path, keys)
    except LedgerTampered as exc:
        return [str(exc)]
    if not Path(path).exists():
        return [f"the ledger file is missing: its signed head says {head.seq} entries (the ledger was deleted)"]
    last_seq, last_hash = (entries[-1].get("seq"), entries[-1].get("hash")) if entries else (0, GENESIS)
    if head.seq > len(entries):
        return [f"the ledger has {len(entries)} entries, its signed head says {head.seq} (the ledger was cut short)"]
    if (last_seq, last_hash) != (head.seq, head.hash):
        return [
            f"the ledger's last entry (line {len(entries)}, hash {str(last_hash)[:12]}) is not the signed head "
            f"(line {head.seq}, hash {head.hash[:12]}): entries were rewritten or appended without the key"
        ]
    return []


def signature_path(path: Path) -> Path:
    return Path(str(head_path(path)) + signing.SIGNATURE_SUFFIX)


def verify_head(path: Path, keys: signing.Keys) -> None:
    """The head file's signature (O(1): it covers the head, which names the last entry's hash)."""
    signing.verify(head_path(path), signature_path(path), keys.public, label=str(head_path(path)), error=LedgerTampered)


def signed_head(path: Path) -> Head:
    """The head as recorded (what statements, DVC metadata and MLflow tags repeat so truncation shows)."""
    return _read_head(path) or Head()


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
    """The last entry's sequence number and hash, and the ledger's size in bytes after it.

    Kept beside the ledger (``ledger.jsonl.head``) so an append costs the same however long the history:
    it checks the head against the file's size and last line instead of re-reading every entry.
    ``verify`` still checks the whole chain."""

    seq: int = 0
    hash: str = GENESIS
    size: int = 0


def head_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".head")


def append(path: Path, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Append one entry; refuses to extend a chain whose head does not match the file."""
    path = Path(path)
    with _locked(path):
        keys = signing.keys_for(path.parent)
        if keys is not None and _read_head(path) is not None and signature_path(path).exists():
            verify_head(path, keys)  # never extend (and re-sign) a head rewritten without the key
        head = _checked_head(path, adopt=keys is None)
        entry = {
            "seq": head.seq + 1,
            "kind": kind,
            "at": datetime.now(UTC).isoformat(),
            "body": json.loads(json.dumps(body, default=str)),
            "prev": head.hash,
        }
        entry["hash"] = entry_hash(entry)
        line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
        with open(path, "ab") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        _write_head(path, Head(entry["seq"], entry["hash"], head.size + len(line)))
    return entry


def _checked_head(path: Path, adopt: bool = True) -> Head:
    """The head, after making sure the file ends where the head says (O(1) in the ledger's length).

    A line torn by a crash mid-append (no newline yet, never committed) is cut back; a last line written
    before a crash could update the head is adopted if it chains. Anything else, or a missing head file
    (a ledger from an older version), falls back to the full ``verify`` and rebuilds the head."""
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
        adopted = _adopt(tail, head) if adopt else None  # signed: a line after the signed head is not adopted
        if adopted is not None:
            return adopted
    problems = verify(path)
    if problems:
        raise LedgerTampered("ledger failed verification: " + "; ".join(problems), path=str(path))
    entries = read(path)
    rebuilt = Head(entries[-1]["seq"], entries[-1]["hash"], size) if entries else Head(size=size)
    _write_head(path, rebuilt)
    return rebuilt


def _adopt(tail: bytes, head: Head) -> Head | None:
    """A single complete line after the head that chains to it (the head write was lost in a crash)."""
    try:
        entry = json.loads(tail)
    except ValueError:
        return None
    chains = isinstance(entry, dict) and entry.get("prev") == head.hash and entry.get("seq") == head.seq + 1
    if chains and entry_hash(entry) == entry.get("hash"):
        return Head(entry["seq"], entry["hash"], head.size + len(tail))
    return None


def _last_entry_hash(path: Path) -> str:
    """The hash the last line declares, if its content matches it (reads at most the last 1 MB)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        handle.seek(max(0, end - (1 << 20)))
        lines = handle.read().rstrip(b"\n").rsplit(b"\n", 1)
    try:
        entry = json.loads(lines[-1])
        return entry["hash"] if entry_hash(entry) == entry["hash"] else ""
    except (ValueError, KeyError, TypeError):
        return ""


def _read_head(path: Path) -> Head | None:
    try:
        return Head(**json.loads(head_path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write_head(path: Path, head: Head) -> None:
    atomic.write_text(head_path(path), json.dumps(asdict(head)) + "\n")
    sign_head(path)


def seal(path: Path) -> bool:
    """Sign the head of a ledger that has none yet (a workspace adopting signing: its chain must verify
    first, and from then on it cannot be rewritten without the key). Returns whether it signed."""
    path = Path(path)
    if signing.keys_for(path.parent) is None or signature_path(path).exists() or not path.exists():
        return False
    with _locked(path):
        entries = read(path)
        problems = chain_problems(entries)
        if problems:
            raise LedgerTampered("ledger failed verification: " + "; ".join(problems), path=str(path))
        last = entries[-1] if entries else {"seq": 0, "hash": GENESIS}
        _write_head(path, Head(last["seq"], last["hash"], path.stat().st_size))
    return True


def sign_head(path: Path) -> None:
    """Sign the head file at every append (a workspace without keys is left unsigned)."""
    keys = signing.keys_for(Path(path).parent)
    if keys is not None:
        signing.sign(head_path(path), signature_path(path), keys)


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
