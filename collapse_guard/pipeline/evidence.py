"""An evidence bundle: what a reviewer needs to check a workspace's history on another machine.

``audit export`` copies the ledger with its signed head, the public key, the anchor's signed statement and
every generation's signed statement into one folder with a README; ``audit verify --bundle`` checks it with
the public key alone (no secret, no data, no MLflow or DVC): the chain, the head's signature (so nothing
was cut, appended or rewritten), every statement's signature, and that each statement agrees with the
ledger (same model id, and no statement saw more ledger entries than the ledger holds).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from collapse_guard.config import Params
from collapse_guard.errors import ConfigError, LedgerTampered
from collapse_guard.records import atomic, attestation, ledger, signing
from collapse_guard.records.workspace import generation_paths, relative

LEDGER = Path("ledger") / "ledger.jsonl"
ANCHOR = Path("anchor")
GENERATIONS = Path("generations")

README = """# collapse-guard evidence bundle

What every model of this workspace was trained on, signed with the workspace's key (OpenSSF model-signing:
in-toto statements in Sigstore bundles). Verify it anywhere with the public key alone:

    collapse-guard audit verify --bundle {name} --public-key signing.pub

Use the public key from the project's repository (`.collapse-guard/signing.pub`), not only the copy in this
folder: a bundle carrying its own key proves only that it is self-consistent.

- `ledger/ledger.jsonl`: the hash-chained audit ledger; `ledger.jsonl.head` names its last entry and is
  signed (`.sigstore.json`): an edited, removed, appended or cut entry no longer matches it.
- `anchor/`: the real anchor's signed statement (file sha256, rows, a digest of its record ids).
- `generations/gen_NNN/`: each generation's statement (C2PA vocabulary: trainedAlgorithmicData, model id,
  parent model, decoding, anchor version, ledger head) and the signature over the generation's whole folder;
  its manifest names the sha256 of every file of the generation (data files are not included).
"""


def export(params: Params, target: Path) -> dict[str, Any]:
    """Write the bundle to ``target`` (a new or empty folder); returns what it holds."""
    keys = signing.Keys(params.workspace)
    if not keys.public.is_file():
        raise ConfigError(
            "the workspace is not signed (no public key): run `collapse-guard init`", path=str(keys.public)
        )
    problems = ledger.verify(params.ledger_path)
    if problems:
        raise LedgerTampered("; ".join(problems), path=relative(params, params.ledger_path))
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise ConfigError("the bundle folder is not empty", path=str(target))
    _copy(keys.public, target / "signing.pub")
    for source in (params.ledger_path, ledger.head_path(params.ledger_path), ledger.signature_path(params.ledger_path)):
        _copy(source, target / LEDGER.parent / source.name)
    for source in (
        attestation.anchor_statement_path(params.anchor_path),
        attestation.anchor_signature_path(params.anchor_path),
    ):
        _copy(source, target / ANCHOR / source.name)
    generations = []
    for entry in ledger.read(params.ledger_path):
        if entry["kind"] != "generation_recorded":
            continue
        folder = generation_paths(params, entry["body"]["generation"]).dir
        for name in (attestation.STATEMENT, attestation.SIGNATURE):
            _copy(folder / name, target / GENERATIONS / folder.name / name)
        generations.append(folder.name)
    head = ledger.signed_head(params.ledger_path)
    atomic.write_text(target / "README.md", README.format(name=target.name))
    summary = {"ledger_entries": head.seq, "ledger_head": head.hash, "generations": generations}
    atomic.write_json(target / "bundle.json", summary)
    return summary


def verify_bundle(bundle: Path, public_key: Path | None = None) -> list[str]:
    """Every problem with the bundle, checked with ``public_key`` (default: the bundle's own copy)."""
    bundle = Path(bundle)
    key = Path(public_key) if public_key else bundle / "signing.pub"
    if not key.is_file():
        return [f"public key not found: {key}"]
    keys = signing.Keys(bundle, public_key=key)
    ledger_path = bundle / LEDGER
    try:
        entries = ledger.read(ledger_path)
    except LedgerTampered as exc:
        return [str(exc)]
    if not ledger_path.exists():
        return [f"the bundle has no ledger ({LEDGER})"]
    problems = ledger.chain_problems(entries) + ledger.head_problems(ledger_path, entries, keys)
    problems += _anchor_problems(bundle, keys, len(entries))
    recorded = {e["body"]["generation"]: e["body"] for e in entries if e["kind"] == "generation_recorded"}
    for generation, body in sorted(recorded.items()):
        problems += _generation_problems(bundle / GENERATIONS / f"gen_{generation:03d}", keys, body, len(entries))
    return problems


def _anchor_problems(bundle: Path, keys: signing.Keys, entries: int) -> list[str]:
    statements = sorted((bundle / ANCHOR).glob("*.provenance.json"))
    if not statements:
        return ["the bundle has no signed anchor statement"]
    problems = []
    for statement in statements:
        signature = Path(str(statement) + signing.SIGNATURE_SUFFIX)
        try:
            signing.verify(statement, signature, keys.public, label=str(statement.name), error=LedgerTampered)
        except LedgerTampered as exc:
            problems.append(str(exc))
            continue
        problems += _witness(statement, entries)
    return problems


def _generation_problems(folder: Path, keys: signing.Keys, body: dict[str, Any], entries: int) -> list[str]:
    statement_path, signature = folder / attestation.STATEMENT, folder / attestation.SIGNATURE
    if not statement_path.is_file() or not signature.is_file():
        return [f"{folder.name}: the signed statement is missing"]
    try:
        manifest = signed_manifest(signature, keys.public)
    except ValueError as exc:
        return [f"{folder.name}: signature does not verify ({exc})"]
    digest = hashlib.sha256(statement_path.read_bytes()).hexdigest()
    if manifest.get(attestation.STATEMENT) != digest:
        return [f"{folder.name}: {attestation.STATEMENT} is not the statement the signature covers (edited)"]
    data = attestation.assertion(attestation.read_statement(statement_path), "org.collapse-guard.generation")
    problems = _witness(statement_path, entries, folder.name)
    if data.get("model_id") != body.get("model_id"):
        problems.append(
            f"{folder.name}: the signed statement names model {data.get('model_id')}, the ledger {body.get('model_id')}"
        )
    return problems


def signed_manifest(signature: Path, public_key: Path) -> dict[str, str]:
    """The (file -> sha256) manifest a model-signing bundle vouches for, after checking its signature.

    model-signing's public API verifies a signature against the files themselves; a bundle carries only the
    statements, so this checks the envelope with model-signing's own verifier and returns its manifest."""
    from model_signing._signing import sign_ec_key, sign_sigstore_pb  # no public API for the manifest alone

    try:
        manifest = sign_ec_key.Verifier(Path(public_key)).verify(sign_sigstore_pb.Signature.read(Path(signature)))
    except Exception as exc:
        raise ValueError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    return {str(item.identifier): item.digest.digest_hex for item in manifest.resource_descriptors()}


def _witness(statement: Path, entries: int, label: str = "") -> list[str]:
    seen = attestation.witnessed_head(attestation.read_statement(statement))
    if seen > entries:
        name = label or statement.name
        return [f"{name}: its signed statement saw {seen} ledger entries, the ledger has {entries} (cut short)"]
    return []


def _copy(source: Path, target: Path) -> None:
    if not Path(source).is_file():
        raise LedgerTampered("a signed record to export is missing", path=str(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def load_summary(bundle: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(bundle) / "bundle.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
