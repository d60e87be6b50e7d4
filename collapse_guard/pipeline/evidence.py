"""An evidence bundle: what a reviewer needs to check a workspace's history on another machine.

``audit export`` copies the ledger with its signed head, the public key and its fingerprint, the key chain's
rotation statements and retired keys, the anchor's signed statement and every generation's signed statement
into one folder with a README, and a manifest (``bundle.json``) that says what is where (the ledger keeps
its own name: ``ledger/text.jsonl`` for a text workspace). ``audit verify --bundle`` reads the manifest and
checks the bundle with a public key alone (no secret, no data, no MLflow or DVC): the chain, the head's
signature (so nothing was cut, appended or rewritten), the key chain (each rotation endorsed by the key
before it), every statement's signature, and that each statement agrees with the ledger (same model id,
and no statement saw more ledger entries than the ledger holds).

What that proves depends on the key it started from, and the verdict says so: with the reviewer's key
(``--public-key``) or a pinned fingerprint (``--fingerprint``) the bundle is authenticated; with only the
key the bundle carries, it is merely self-consistent (anyone can re-sign a bundle with a key of their own).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from collapse_guard.config import Params
from collapse_guard.errors import CollapseGuardError, ConfigError, LedgerTampered
from collapse_guard.records import atomic, attestation, keychain, ledger, signing
from collapse_guard.records.workspace import generation_paths, relative

FORMAT = "collapse-guard-evidence-bundle/1"
MANIFEST = "bundle.json"
LEDGER_DIR = Path("ledger")
LEDGER = LEDGER_DIR / "ledger.jsonl"  # where a bundle without a manifest keeps its ledger
ANCHOR = Path("anchor")
GENERATIONS = Path("generations")
KEYS = Path("keys")

README = """# collapse-guard evidence bundle

What every model of this workspace was trained on, signed with the workspace's key (OpenSSF model-signing:
in-toto statements in Sigstore bundles). Verify it anywhere with the public key you trust:

    collapse-guard audit verify --bundle {name} --public-key signing.pub
    collapse-guard audit verify --bundle {name} --fingerprint {fingerprint}

Use the public key from the project's repository (`.collapse-guard/signing.pub`), or pin its fingerprint
(`.collapse-guard/signing.pub.fingerprint`), not only the copy in this folder: without either, verification
checks the bundle against the key it carries, which proves only that it is self-consistent, and exits 12.

- `bundle.json`: the manifest (where each file is, the ledger's entries and head, the key's fingerprint).
- `{ledger}`: the hash-chained audit ledger; its `.head` names its last entry and is signed (`.sigstore.json`):
  an edited, removed, appended or cut entry no longer matches it. Its first entry records the signing key's
  fingerprint; a key rotation is an entry naming the old and the new key.
- `keys/`: the rotation statements (each signed by the key it retires) and the retired public keys.
- `anchor/`: the real anchor's signed statement (file sha256, rows, a digest of its record ids).
- `generations/gen_NNN/`: each generation's statement (C2PA vocabulary: trainedAlgorithmicData, model id,
  parent model, decoding, anchor version, ledger head) and the signature over the generation's whole folder;
  its manifest names the sha256 of every file of the generation (data files are not included).
"""


def export(params: Params, target: Path) -> dict[str, Any]:
    """Write the bundle to ``target`` (a new or empty folder); returns its manifest."""
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
    fingerprint = signing.public_fingerprint(keys.public)
    _copy(keys.public, target / signing.PUBLIC_KEY)
    atomic.write_text(target / signing.FINGERPRINT, f"SHA256:{fingerprint}\n")
    ledger_file = LEDGER_DIR / params.ledger_path.name
    sources = [params.ledger_path, ledger.head_path(params.ledger_path), ledger.signature_path(params.ledger_path)]
    pending = [ledger.intent_path(params.ledger_path), ledger.intent_signature_path(params.ledger_path)]
    for source in [*sources, *(p for p in pending if p.is_file())]:
        _copy(source, target / LEDGER_DIR / source.name)
    rotations = []
    for rotation in keychain.rotations(keychain.rotations_dir(params.workspace)):
        for source in (rotation.path, rotation.signature):
            _copy(source, target / KEYS / keychain.ROTATIONS / source.name)
        rotations.append(str(KEYS / keychain.ROTATIONS / rotation.path.name))
    retired = []
    for source in sorted(keychain.retired_dir(params.workspace).glob("*.pub")):
        _copy(source, target / KEYS / signing.RETIRED / source.name)
        retired.append(str(KEYS / signing.RETIRED / source.name))
    anchor_files = {}
    for name, source in (
        ("statement", attestation.anchor_statement_path(params.anchor_path)),
        ("signature", attestation.anchor_signature_path(params.anchor_path)),
    ):
        _copy(source, target / ANCHOR / source.name)
        anchor_files[name] = str(ANCHOR / source.name)
    entries = ledger.read(params.ledger_path)
    generations: dict[str, dict[str, str]] = {}
    for entry in entries:
        if entry["kind"] != "generation_recorded":
            continue
        folder = generation_paths(params, entry["body"]["generation"]).dir
        files = {}
        for name, file in (("statement", attestation.STATEMENT), ("signature", attestation.SIGNATURE)):
            _copy(folder / file, target / GENERATIONS / folder.name / file)
            files[name] = str(GENERATIONS / folder.name / file)
        generations[folder.name] = files
    head = ledger.signed_head(params.ledger_path)
    chain = [{"fingerprint": link.fingerprint, "line": link.seq} for link in keychain.links(entries)]
    atomic.write_text(
        target / "README.md",
        README.format(name=target.name, fingerprint=f"SHA256:{fingerprint}", ledger=ledger_file),
    )
    manifest = {
        "format": FORMAT,
        "ledger": {
            "file": str(ledger_file),
            "head": str(LEDGER_DIR / ledger.head_path(params.ledger_path).name),
            "signature": str(LEDGER_DIR / ledger.signature_path(params.ledger_path).name),
            "entries": head.seq,
            "head_hash": head.hash,
        },
        "public_key": {"file": signing.PUBLIC_KEY, "fingerprint": fingerprint},
        "key_chain": chain,
        "rotations": rotations,
        "retired_keys": retired,
        "anchor": anchor_files,
        "generation_files": generations,
        # the summary a reviewer reads first (and what older bundles held)
        "ledger_entries": head.seq,
        "ledger_head": head.hash,
        "generations": list(generations),
    }
    atomic.write_json(target / MANIFEST, manifest)
    return manifest


@dataclass
class BundleVerdict:
    """What ``verify_bundle`` checked, against which key, and what that proves."""

    problems: list[str]
    key: str = ""  # the fingerprint verification started from
    key_source: str = ""  # "--public-key", "--fingerprint" or "the bundle's own signing.pub"
    authenticated: bool = False
    proved: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["key"] = {"fingerprint": self.key, "short": signing.short(self.key), "source": self.key_source}
        del out["key_source"]
        return out


def verify_bundle(bundle: Path, public_key: Path | None = None, fingerprint: str | None = None) -> BundleVerdict:
    """Every problem with the bundle, checked from the key the reviewer trusts: ``public_key`` (a PEM file) or
    ``fingerprint`` (pinned: the bundle's key chain must contain it), else the bundle's own copy (then the
    verdict is not authenticated)."""
    bundle = Path(bundle).resolve()
    manifest = load_summary(bundle)
    own = bundle / manifest.get("public_key", {}).get("file", signing.PUBLIC_KEY)
    if public_key is not None:
        key_file, source = Path(public_key), "--public-key"
    else:
        key_file, source = own, "--fingerprint" if fingerprint else "the bundle's own signing.pub"
    try:
        trusted = signing.normalised(fingerprint) if fingerprint else signing.public_fingerprint(key_file)
    except CollapseGuardError as exc:
        return BundleVerdict([str(exc)], key_source=source)
    verdict = BundleVerdict([], trusted, source, authenticated=source != "the bundle's own signing.pub")
    ledger_path = _ledger_file(bundle, manifest)
    if ledger_path is None or not ledger_path.is_file():
        where = manifest.get("ledger", {}).get("file", str(LEDGER))
        verdict.problems.append(f"the bundle has no ledger ({where})")
        return verdict
    try:
        entries = ledger.read(ledger_path)
    except LedgerTampered as exc:
        verdict.problems.append(str(exc))
        return verdict
    chain = keychain.links(entries)
    carried = _fingerprint_or_blank(own)
    if not chain and fingerprint and carried != trusted:
        verdict.problems.append(
            f"the pinned key {signing.short(trusted)} is not the bundle's key {signing.short(carried)}"
        )
        return verdict
    keys = signing.Keys(bundle, public_key=key_file)
    statements = bundle / KEYS / keychain.ROTATIONS
    verdict.problems += ledger.chain_problems(entries)
    verdict.problems += ledger.head_problems(ledger_path, entries, keys, trusted=trusted, statements=statements)
    pems = [link.public_key for link in chain] if chain else [key_file.read_text(encoding="utf-8")]
    with keychain.pem_files(*dict.fromkeys(pems)) as key_files:
        verdict.problems += _anchor_problems(bundle, manifest, key_files, len(entries))
        recorded = {e["body"]["generation"]: e["body"] for e in entries if e["kind"] == "generation_recorded"}
        for generation, body in sorted(recorded.items()):
            folder = bundle / GENERATIONS / f"gen_{generation:03d}"
            verdict.problems += _generation_problems(folder, key_files, body, len(entries))
    verdict.summary = {
        "ledger_entries": len(entries),
        "ledger_head": entries[-1]["hash"] if entries else ledger.GENESIS,
        "generations": [f"gen_{g:03d}" for g in sorted(recorded)],
        "ledger": str(ledger_path.relative_to(bundle)),
    }
    if not verdict.problems:
        verdict.proved = _proved(verdict, chain, len(entries), len(recorded))
    return verdict


def _proved(verdict: BundleVerdict, chain: list[keychain.Link], entries: int, generations: int) -> list[str]:
    current = chain[-1].fingerprint if chain else verdict.key
    rotations = len({link.fingerprint for link in chain}) - 1 if chain else 0
    said = [
        f"the hash chain of {entries} ledger entries is unbroken",
        f"the signed head names the last entry and is signed by key {signing.short(current)}",
        f"the anchor's statement and {generations} generation statements are signed by the ledger's keys and agree "
        "with the ledger",
    ]
    if rotations:
        said.insert(2, f"{rotations} key rotation(s), each endorsed by the key it retired, lead to that key")
    if verdict.authenticated:
        said.append(f"all of it from the key you trust ({verdict.key_source}: {signing.short(verdict.key)})")
    else:
        said.append(
            f"only against the key the bundle carries ({signing.short(verdict.key)}): self-consistent, not "
            "authenticated (anyone can re-sign a bundle with a key of their own)"
        )
    return said


def _fingerprint_or_blank(path: Path) -> str:
    try:
        return signing.public_fingerprint(path)
    except CollapseGuardError:
        return ""


def _ledger_file(bundle: Path, manifest: dict[str, Any]) -> Path | None:
    """The ledger the manifest names (inside the bundle), else the only ``ledger/*.jsonl`` of an older bundle."""
    named = manifest.get("ledger", {}).get("file")
    if named:
        path = (bundle / named).resolve()
        return path if path.is_relative_to(bundle.resolve()) else None
    candidates = sorted((bundle / LEDGER_DIR).glob("*.jsonl"))
    candidates = [c for c in candidates if not c.name.endswith(".alerts.jsonl")]
    return candidates[0] if len(candidates) == 1 else bundle / LEDGER


def _anchor_problems(bundle: Path, manifest: dict[str, Any], key_files: list[Path], entries: int) -> list[str]:
    named = manifest.get("anchor", {}).get("statement")
    statements = [bundle / named] if named else sorted((bundle / ANCHOR).glob("*.provenance.json"))
    statements = [s for s in statements if s.is_file()]
    if not statements:
        return ["the bundle has no signed anchor statement"]
    problems = []
    for statement in statements:
        signature = Path(str(statement) + signing.SIGNATURE_SUFFIX)
        try:
            signing.verify(statement, signature, key_files, label=str(statement.name), error=LedgerTampered)
        except LedgerTampered as exc:
            problems.append(str(exc))
            continue
        problems += _witness(statement, entries)
    return problems


def _generation_problems(folder: Path, key_files: list[Path], body: dict[str, Any], entries: int) -> list[str]:
    statement_path, signature = folder / attestation.STATEMENT, folder / attestation.SIGNATURE
    if not statement_path.is_file() or not signature.is_file():
        return [f"{folder.name}: the signed statement is missing"]
    manifest, failure = None, ""
    for key in key_files:
        try:
            manifest = signed_manifest(signature, key)
            break
        except ValueError as exc:
            failure = failure or str(exc)
    if manifest is None:
        return [f"{folder.name}: signature does not verify ({failure})"]
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
    """The bundle's manifest ({} for a bundle without one)."""
    try:
        data = json.loads((Path(bundle) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
