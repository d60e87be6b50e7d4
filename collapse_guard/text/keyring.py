"""The workspace's record of its watermark keys: which key id is current, which are retired, and the schemes
each was used with (``.collapse-guard/watermark.json`` beside the key file, written by ``init``).

Why: a key from ``COLLAPSE_GUARD_WATERMARK_KEY`` that differs from the workspace's would otherwise win
silently, so ``ingest`` would screen the pipeline's own synthetic text with the wrong key and let all of it in
as real. The record holds only key ids (short hashes, safe to commit), never a secret; a key whose id is not
the one recorded, or a recorded key whose file is gone, is a SigningKeyError naming both ids (a new key is
never created for an initialised workspace), and screening uses every recorded key, whatever the environment.

Changing the key is an explicit, recorded step (``collapse-guard audit rotate-key --watermark``,
collapse_guard/pipeline/keys.py): the old key file moves to ``.collapse-guard/watermark-retired/<key id>.key``,
where screening finds it, the record marks it retired, and the ledger records the rotation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from collapse_guard.errors import ConfigError, SigningKeyError
from collapse_guard.records import atomic
from collapse_guard.text.watermark import DEFAULT_SCHEME, KEY_ENV, WatermarkKey, read_key_file, scheme_of

REGISTRY_NAME = "watermark.json"
RETIRED_FOLDER = "watermark-retired"
FORMAT = "collapse-guard-watermark-keys/1"
CURRENT, RETIRED = "current", "retired"


def registry_path(key_file: Path) -> Path:
    return Path(key_file).parent / REGISTRY_NAME


def retired_key_path(key_file: Path, key_id: str) -> Path:
    """Where a rotation keeps a retired key's file (beside the current one), so screening still finds it."""
    return Path(key_file).parent / RETIRED_FOLDER / f"{key_id}.key"


def staged_key_path(key_file: Path) -> Path:
    """The next key while a rotation is under way (a killed rotation is finished by running it again)."""
    return Path(key_file).with_name(Path(key_file).name + ".next")


@dataclass
class KeyRecord:
    """Key ids with their status and schemes; ``current`` is "" when nothing was recorded (an old workspace)."""

    current: str = ""
    keys: dict[str, dict] = field(default_factory=dict)  # key_id -> {"status", "schemes"}

    def schemes(self, key_id: str) -> tuple[str, ...]:
        return tuple(self.keys.get(key_id, {}).get("schemes") or (DEFAULT_SCHEME,))

    def retired(self) -> list[str]:
        return [key_id for key_id, entry in self.keys.items() if entry.get("status") == RETIRED]


def read_record(path: Path) -> KeyRecord:
    """The record at ``path``; an empty one if there is none. A malformed file is a ConfigError naming it."""
    path = Path(path)
    if not path.exists():
        return KeyRecord()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or not isinstance(data.get("keys"), dict):
            raise ValueError(f"not a {FORMAT} file")
        for entry in data["keys"].values():
            for name in entry.get("schemes", []):
                scheme_of(name)
        return KeyRecord(str(data.get("current", "")), dict(data["keys"]))
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"cannot read the workspace's watermark key record ({exc})", path=str(path)) from exc


def write_record(path: Path, record: KeyRecord) -> None:
    payload = {"format": FORMAT, "current": record.current, "keys": record.keys}
    atomic.write_text(Path(path), json.dumps(payload, indent=2, sort_keys=True) + "\n")


def record_key(path: Path, key: WatermarkKey, scheme: str, status: str = CURRENT) -> KeyRecord:
    """Record ``key`` (and that it is used with ``scheme``). A second, different current key is refused:
    text marked with the first could no longer be told from real text by generation-time checks."""
    record = read_record(path)
    if status == CURRENT and record.current and record.current != key.key_id:
        raise ConfigError(
            f"the workspace's watermark key is {record.current}, not {key.key_id}; "
            "retire the recorded key before recording another",
            path=str(path),
        )
    before = json.dumps([record.current, record.keys], sort_keys=True)
    entry = record.keys.setdefault(key.key_id, {"status": status, "schemes": []})
    if scheme_of(scheme).name not in entry["schemes"]:
        entry["schemes"] = sorted([*entry["schemes"], scheme_of(scheme).name])
    if status == CURRENT:
        record.current = key.key_id
    if json.dumps([record.current, record.keys], sort_keys=True) != before or not Path(path).exists():
        write_record(path, record)
    return record


def current_key(key_file: Path, record_file: Path) -> WatermarkKey:
    """The workspace's key: the environment's or the key file's, which must agree with each other and with
    the recorded id. Each disagreement is a SigningKeyError (exit 11) naming both ids (never a secret)."""
    key_file = Path(key_file)
    from_env = os.environ.get(KEY_ENV, "")
    from_file = read_key_file(key_file) if key_file.exists() else None
    key = WatermarkKey(from_env.encode("utf-8")) if from_env else from_file
    record = read_record(record_file)
    interrupted = (
        "; a key rotation was interrupted: run `collapse-guard audit rotate-key --watermark` again to finish it"
        if staged_key_path(key_file).exists()
        else ""
    )
    if key is None and record.current:
        raise SigningKeyError(
            f"the watermark key is missing: the workspace recorded key {record.current}; put its file back (or set "
            f"{KEY_ENV}): a new key is never created for an initialised workspace{interrupted}",
            path=str(key_file),
        )
    if key is None:
        raise ConfigError(f"no watermark key: set {KEY_ENV} or create the key file with `init`", path=str(key_file))
    if from_env and from_file is not None and from_file.key_id != key.key_id:
        raise SigningKeyError(
            f"{KEY_ENV} holds watermark key {key.key_id}, but the workspace's key file holds {from_file.key_id}",
            path=str(key_file),
        )
    if record.current and record.current != key.key_id:
        source = KEY_ENV if from_env else str(key_file)
        raise SigningKeyError(
            f"watermark key {key.key_id} (from {source}) is not the workspace's recorded key {record.current}: "
            f"put the recorded key back (change keys with `collapse-guard audit rotate-key --watermark`){interrupted}",
            path=str(record_file),
        )
    return key


def rotate_record(path: Path, old_id: str, new_id: str) -> KeyRecord:
    """The record after a rotation: key ``old_id`` retired (keeping its schemes), ``new_id`` current with the same
    schemes (idempotent: a killed rotation runs it again)."""
    record = read_record(path)
    schemes = list(record.schemes(old_id))
    record.keys.setdefault(old_id, {"status": RETIRED, "schemes": schemes})["status"] = RETIRED
    record.keys[new_id] = {"status": CURRENT, "schemes": schemes}
    record.current = new_id
    write_record(path, record)
    return record
