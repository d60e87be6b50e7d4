"""Signatures on what the pipeline records: OpenSSF model-signing (an in-toto statement in a Sigstore bundle).

A workspace's key pair lives in ``.collapse-guard/``: ``signing.key`` (EC P-256, 0600, git-ignored, created by
the first ``init``) and ``signing.pub`` (committed, so a reviewer verifies with it alone), with its fingerprint
beside it (``signing.pub.fingerprint``: sha256 of the key's DER SubjectPublicKeyInfo, what a reviewer pins).
Teams keep the secret out of the workspace: ``COLLAPSE_GUARD_SIGNING_KEY`` holds a path to a PEM key, the PEM
text itself, or a PKCS#11 URI (``pkcs11:...``, model-signing's HSM signer); the public key still sits in
``.collapse-guard/signing.pub``.

A key is part of the trail: the ledger records the fingerprint of the key that signs it (collapse_guard/records/
ledger.py), and ``check_signer`` refuses, before anything is written, a secret that is not the public key's
half, or a key file that others can read (``COLLAPSE_GUARD_KEY_PERMISSIONS=warn`` only warns). Retired keys
(``.collapse-guard/retired/``, after ``collapse-guard audit rotate-key``) still verify what they signed.

Nothing here is a home-made scheme: model-signing hashes the files into a manifest, wraps it in an in-toto
statement and signs it into a Sigstore bundle, offline, with the local key.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from collapse_guard.errors import CollapseGuardError, ConfigError, SigningKeyError
from collapse_guard.records import atomic

KEY_ENV = "COLLAPSE_GUARD_SIGNING_KEY"
PERMISSIONS_ENV = "COLLAPSE_GUARD_KEY_PERMISSIONS"  # "warn": a key file readable by others is used, with a warning
KEY_DIR = ".collapse-guard"
PRIVATE_KEY = "signing.key"
PUBLIC_KEY = "signing.pub"
FINGERPRINT = "signing.pub.fingerprint"
RETIRED = "retired"  # public keys a rotation retired: what they signed still verifies
SIGNATURE_SUFFIX = ".sigstore.json"
ROTATE = "`collapse-guard audit rotate-key`"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Keys:
    """The key pair of the workspace at ``home`` (the folder holding ``.collapse-guard/``), and the retired public
    keys whose signatures still count (those the ledger's key chain names, collapse_guard/pipeline/trust.py)."""

    home: Path
    public_key: Path | None = None  # a reviewer's trusted copy, instead of the workspace's own
    retired: tuple[Path, ...] = ()

    @property
    def public(self) -> Path:
        return self.public_key or self.home / KEY_DIR / PUBLIC_KEY

    @property
    def private(self) -> Path:
        return self.home / KEY_DIR / PRIVATE_KEY

    def verifying(self) -> tuple[Path, ...]:
        """Every public key a signature may verify with: the current one first, then the retired ones."""
        return (self.public, *self.retired)

    def private_source(self) -> str:
        """Where the secret comes from: the environment first, else the workspace's key file."""
        from_env = os.environ.get(KEY_ENV, "").strip()
        if from_env:
            return from_env
        if not self.private.is_file():
            raise SigningKeyError(
                f"no signing key: {KEY_DIR}/{PRIVATE_KEY} is missing and {KEY_ENV} is not set", path=str(self.private)
            )
        return str(self.private)

    def source_label(self) -> str:
        """Where the secret comes from, as a message names it (never the secret itself)."""
        from_env = os.environ.get(KEY_ENV, "").strip()
        if not from_env:
            return f"{KEY_DIR}/{PRIVATE_KEY}"
        if from_env.startswith("pkcs11:") or "-----BEGIN" in from_env:
            return f"{KEY_ENV} ({'a PKCS#11 URI' if from_env.startswith('pkcs11:') else 'PEM text'})"
        return f"{KEY_ENV} ({from_env})"


# -- fingerprints and the checks of a key ---------------------------------------------------------------------
def fingerprint_of(public_pem: bytes) -> str:
    """sha256 (hex) of a public key's DER SubjectPublicKeyInfo: the same however the PEM is wrapped or commented.
    Raises ValueError when ``public_pem`` is not a public key."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def short(fingerprint: str) -> str:
    """A fingerprint as messages show it (64 bits: enough to tell keys apart, not to pin one)."""
    return f"SHA256:{fingerprint[:16]}" if fingerprint else "(none recorded)"


def normalised(fingerprint: str) -> str:
    """A fingerprint as typed by a person (``SHA256:AB:CD...``, any case) as 64 hex digits; ConfigError if not."""
    text = fingerprint.strip().lower().removeprefix("sha256:").replace(":", "")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ConfigError(
            f"a fingerprint is the 64 hex digits of {KEY_DIR}/{FINGERPRINT} (sha256 of the public key's DER), "
            f"not {fingerprint!r}"
        )
    return text


def public_fingerprint(path: Path, expected: str = "") -> str:
    """The fingerprint of the public key at ``path``; SigningKeyError naming the file (and the fingerprint the
    ledger expects) when it is missing or not a public key."""
    wanted = f"; the ledger expects key {short(expected)}" if expected else ""
    try:
        return fingerprint_of(Path(path).read_bytes())
    except FileNotFoundError as exc:
        raise SigningKeyError(
            f"the public key is missing{wanted}: restore it from the repository (it is committed), never by "
            f"creating a new key (change keys with {ROTATE})",
            path=str(path),
        ) from exc
    except OSError as exc:
        raise SigningKeyError(f"cannot read the public key ({exc.strerror}){wanted}", path=str(path)) from exc
    except ValueError as exc:
        raise SigningKeyError(
            f"the public key is not a PEM public key ({_first_line(exc)}){wanted}", path=str(path)
        ) from exc


def write_fingerprint(keys: Keys) -> str:
    """Write ``signing.pub.fingerprint`` beside the public key (committed with it: what a reviewer pins)."""
    fingerprint = public_fingerprint(keys.public)
    target = keys.home / KEY_DIR / FINGERPRINT
    text = f"SHA256:{fingerprint}\n"
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        atomic.write_text(target, text)
    return fingerprint


def check_key_file_mode(path: Path, what: str) -> None:
    """A secret key file must be readable by its owner only: SigningKeyError naming it otherwise (a warning on
    stderr instead when ``COLLAPSE_GUARD_KEY_PERMISSIONS=warn``)."""
    try:
        mode = stat.S_IMODE(Path(path).stat().st_mode)
    except OSError:
        return  # missing or unreadable: the reader names that
    if not mode & 0o077:
        return
    message = (
        f"the {what} is readable by others (mode {mode:04o}): run `chmod 600 {path}` (or set "
        f"{PERMISSIONS_ENV}=warn to only warn)"
    )
    if os.environ.get(PERMISSIONS_ENV, "").strip().lower() == "warn":
        log.warning("%s [%s]", message, path)
        return
    raise SigningKeyError(message, path=str(path))


def signer_fingerprint(keys: Keys) -> str | None:
    """The fingerprint of the public half of the secret ``sign`` would use (None for a PKCS#11 key, whose
    public half is ``signing.pub`` by construction). SigningKeyError naming the source when it is missing,
    unreadable, not a key, or a file readable by others."""
    from cryptography.hazmat.primitives import serialization

    source = keys.private_source()
    if source.startswith("pkcs11:"):
        return None
    label = keys.source_label()
    try:
        private = serialization.load_pem_private_key(_pem_bytes(source), password=None)
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError) as exc:
        reason = "" if "Unable to load PEM" in str(exc) else f" ({_first_line(exc)})"
        raise SigningKeyError(
            f"the signing key from {label} is not an unencrypted PEM private key{reason}",
            path=source if "-----BEGIN" not in source else None,
        ) from exc
    return fingerprint_of(public)


def check_signer(keys: Keys, expected: str = "") -> str:
    """The workspace's key fingerprint, after checking that the secret is readable, private to its owner and the
    half of ``signing.pub``. Raises SigningKeyError naming the key file and the fingerprint the ledger expects
    (``expected``, when known) before anything is signed. Whether that key is the one the ledger expects is the
    ledger's to decide (a recorded rotation may lead to it: collapse_guard/records/ledger.py ``check_key``)."""
    public = public_fingerprint(keys.public, expected)
    expects = f"the ledger expects key {short(expected or public)}"
    from_env = os.environ.get(KEY_ENV, "").strip()
    key_file = (
        Path(from_env) if from_env and not from_env.startswith("pkcs11:") and "-----BEGIN" not in from_env else None
    )
    key_file = key_file if from_env else keys.private
    if key_file is not None:
        try:
            check_key_file_mode(key_file, "signing key")
        except SigningKeyError as exc:
            raise SigningKeyError(f"{_message(exc)}; nothing was written ({expects})", path=exc.path) from exc
    try:
        signer = signer_fingerprint(keys)
    except SigningKeyError as exc:
        raise SigningKeyError(
            f"{_message(exc)}; {expects}: put that key back (nothing was written; a new key is never created for "
            f"an initialised workspace: change keys with {ROTATE} while holding the old one)",
            path=exc.path,
        ) from exc
    if signer is not None and signer != public:
        raise SigningKeyError(
            f"the signing key from {keys.source_label()} is key {short(signer)}, but {KEY_DIR}/{PUBLIC_KEY} is key "
            f"{short(public)} and {expects}: put the right key back (nothing was written; change keys with "
            f"{ROTATE})",
            path=str(keys.private) if not os.environ.get(KEY_ENV, "").strip() else str(keys.public),
        )
    return public


def _message(exc: CollapseGuardError) -> str:
    text = str(exc)
    return text[: -len(f" [{exc.path}]")] if exc.path and text.endswith(f" [{exc.path}]") else text


def keys_for(path: Path) -> Keys | None:
    """The key pair governing ``path``: the nearest folder above it holding ``.collapse-guard/signing.pub``
    (as git finds ``.git``), so every writer of the workspace (the ledger included) finds it alone."""
    for folder in [Path(path).resolve(), *Path(path).resolve().parents]:
        if (folder / KEY_DIR / PUBLIC_KEY).is_file():
            return Keys(folder)
    return None


def key_home(path: Path) -> Path | None:
    """The nearest folder above ``path`` holding ``.collapse-guard/`` (with or without its public key)."""
    for folder in [Path(path).resolve(), *Path(path).resolve().parents]:
        if (folder / KEY_DIR).is_dir():
            return folder
    return None


def create_keys(workspace: Path) -> list[str]:
    """A fresh EC P-256 key pair, unless the workspace has a public key already (or the secret is in the
    environment: then only its public half is written). Never overwrites: old signatures would stop verifying.
    Only a workspace with nothing recorded yet gets one (collapse_guard/pipeline/setup.py decides)."""
    keys = Keys(Path(workspace))
    if keys.public.is_file():
        return []
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from_env = os.environ.get(KEY_ENV, "").strip()
    created = []
    if from_env and from_env.startswith("pkcs11:"):
        raise ConfigError(f"{KEY_ENV} names a PKCS#11 key: put its public key (PEM) at {keys.public}")
    if from_env:
        private = serialization.load_pem_private_key(_pem_bytes(from_env), password=None)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with atomic.atomic_path(keys.private) as tmp:
            tmp.touch(mode=0o600)
            tmp.chmod(0o600)
            tmp.write_bytes(pem)
        _ignore_in_git(keys.home, f"/{KEY_DIR}/{PRIVATE_KEY}")
        created.append(f"signing key {KEY_DIR}/{PRIVATE_KEY} (0600, git-ignored: keep it secret)")
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    atomic.write_text(keys.public, public_pem.decode())
    fingerprint = write_fingerprint(keys)
    created.append(
        f"public key {KEY_DIR}/{PUBLIC_KEY}, fingerprint {short(fingerprint)} in {KEY_DIR}/{FINGERPRINT} "
        "(commit both: reviewers verify with the key and pin the fingerprint)"
    )
    return created


def new_private_key(target: Path) -> str:
    """Write a fresh EC P-256 secret to ``target`` (0600); returns its public key's PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with atomic.atomic_path(target) as tmp:
        tmp.touch(mode=0o600)
        tmp.chmod(0o600)
        tmp.write_bytes(pem)
    return public_pem_of(target)


def public_pem_of(private_key: Path) -> str:
    """The PEM public half of a private key file (SigningKeyError naming the file when it is not one)."""
    from cryptography.hazmat.primitives import serialization

    check_key_file_mode(private_key, "new signing key")
    try:
        private = serialization.load_pem_private_key(Path(private_key).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(
            f"not a readable unencrypted PEM private key ({_first_line(exc)})", path=str(private_key)
        ) from exc
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(target: Path, signature: Path, keys: Keys, ignore: Iterable[str] = ()) -> None:
    """Sign a file, or every file of a folder but ``ignore`` (names relative to it), into ``signature``; only with
    the secret half of ``signing.pub`` (``check_signer``), so nothing is ever signed with another key."""
    from model_signing import signing

    check_signer(keys)
    source = keys.private_source()
    config = signing.Config().set_hashing_config(_hashing(target, signature, ignore))
    if source.startswith("pkcs11:"):
        config.use_pkcs11_signer(pkcs11_uri=source)
    # the bundle is written beside the target, then moved (a temp file inside a signed folder would be hashed)
    fd, name = tempfile.mkstemp(prefix=f".{Path(signature).name}.", suffix=".tmp", dir=Path(target).resolve().parent)
    os.close(fd)
    tmp = Path(name)
    try:
        if source.startswith("pkcs11:"):
            config.sign(Path(target), tmp)
        else:
            with _key_file(source) as key_file:
                config.use_elliptic_key_signer(private_key=key_file).sign(Path(target), tmp)
        Path(signature).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, signature)
    finally:
        tmp.unlink(missing_ok=True)


def verify(
    target: Path,
    signature: Path,
    public_key: Path | Sequence[Path],
    *,
    label: str,
    error: type[CollapseGuardError],
    ignore: Iterable[str] = (),
) -> None:
    """Raise ``error`` naming ``label`` unless ``signature`` (made by the holder of the secret of ``public_key``,
    or of one of several: the current key and the retired ones) covers exactly the bytes of ``target`` (a file,
    or a folder's files but ``ignore``)."""
    from model_signing import verifying

    if not Path(target).exists():
        raise error("signed file is missing", path=label)
    if not Path(signature).is_file():
        raise error(f"no signature ({Path(signature).name} is missing): not recorded by the pipeline", path=label)
    candidates = [Path(public_key)] if isinstance(public_key, (str, Path)) else [Path(p) for p in public_key]
    failures = []
    for candidate in candidates:
        config = verifying.Config().set_hashing_config(_hashing(target, signature, ignore))
        try:
            config.use_elliptic_key_verifier(public_key=candidate).verify(Path(target), Path(signature))
            return
        except Exception as exc:  # model-signing raises ValueError (mismatch) and others (malformed bundle)
            failures.append(exc)
    mismatched = [exc for exc in failures if "Key mismatch" not in str(exc)]
    if not mismatched:
        keys = ", ".join(short(_fingerprint_or_blank(p)) for p in candidates)
        raise error(f"signature does not verify (signed by another key than {keys})", path=label) from failures[0]
    raise error(f"signature does not verify ({_described(mismatched[0])})", path=label) from mismatched[0]


def _fingerprint_or_blank(path: Path) -> str:
    try:
        return fingerprint_of(Path(path).read_bytes())
    except (OSError, ValueError):
        return ""


def _described(exc: Exception) -> str:
    """model-signing's mismatch message, as a person reads it ("Hash mismatch for '.'" names no file)."""
    import re

    text = str(exc)
    changed = re.findall(r"Hash mismatch for '([^']*)'", text)
    if changed:
        names = ", ".join("the signed file" if name == "." else name for name in changed[:3])
        return f"Signature mismatch: {names} changed since it was signed"
    return _first_line(exc)


def sorted_ids_digest(record_ids: Iterable[str]) -> str:
    """A commitment to a set of record ids, independent of their order: sha256 over the sorted ids."""
    digest = hashlib.sha256()
    for record_id in sorted(str(r) for r in record_ids):
        digest.update(record_id.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _hashing(target: Path, signature: Path, ignore: Iterable[str]):
    from model_signing import hashing

    config = hashing.Config()
    if Path(target).is_dir():
        inside = [Path(signature).name] if Path(signature).parent.resolve() == Path(target).resolve() else []
        config.set_ignored_paths(paths=[*inside, *ignore], ignore_git_paths=True)
    return config


@contextmanager
def _key_file(source: str) -> Iterator[Path]:
    """model-signing reads the key from a file: PEM text from the environment goes to a private temp file."""
    if "-----BEGIN" not in source:
        yield Path(source)
        return
    handle, name = tempfile.mkstemp(suffix=".pem")
    try:
        os.write(handle, source.encode())
        os.close(handle)
        yield Path(name)
    finally:
        os.unlink(name)


def _pem_bytes(source: str) -> bytes:
    if "-----BEGIN" in source:
        return source.encode()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key ({exc.strerror})", path=source) from exc


def _ignore_in_git(workspace: Path, pattern: str) -> None:
    gitignore = Path(workspace) / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.is_file() else []
    if pattern not in lines:
        atomic.write_text(gitignore, "\n".join([*lines, pattern]) + "\n")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
