"""Signatures on what the pipeline records: OpenSSF model-signing (an in-toto statement in a Sigstore bundle).

A workspace's key pair lives in ``.collapse-guard/``: ``signing.key`` (EC P-256, 0600, git-ignored, created by
``init``) and ``signing.pub`` (committed, so a reviewer verifies with it alone). Teams keep the secret out of
the workspace: ``COLLAPSE_GUARD_SIGNING_KEY`` holds a path to a PEM key, the PEM text itself, or a PKCS#11 URI
(``pkcs11:...``, model-signing's HSM signer); the public key still sits in ``.collapse-guard/signing.pub``.

Nothing here is a home-made scheme: model-signing hashes the files into a manifest, wraps it in an in-toto
statement and signs it into a Sigstore bundle, offline, with the local key. A workspace without a public key
is unsigned (one made before signing existed, until ``init`` runs on it); one with it must verify everywhere.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from collapse_guard.errors import CollapseGuardError, ConfigError
from collapse_guard.records import atomic
from collapse_guard.records.versioning import file_digest

KEY_ENV = "COLLAPSE_GUARD_SIGNING_KEY"
KEY_DIR = ".collapse-guard"
PRIVATE_KEY = "signing.key"
PUBLIC_KEY = "signing.pub"
SIGNATURE_SUFFIX = ".sigstore.json"


@dataclass(frozen=True)
class Keys:
    """The key pair of the workspace at ``home`` (the folder holding ``.collapse-guard/``)."""

    home: Path
    public_key: Path | None = None  # a reviewer's trusted copy, instead of the workspace's own

    @property
    def public(self) -> Path:
        return self.public_key or self.home / KEY_DIR / PUBLIC_KEY

    @property
    def private(self) -> Path:
        return self.home / KEY_DIR / PRIVATE_KEY

    def private_source(self) -> str:
        """Where the secret comes from: the environment first, else the workspace's key file."""
        from_env = os.environ.get(KEY_ENV, "").strip()
        if from_env:
            return from_env
        if not self.private.is_file():
            raise ConfigError(f"no signing key: set {KEY_ENV} or run `collapse-guard init`", path=str(self.private))
        return str(self.private)


def keys_for(path: Path) -> Keys | None:
    """The key pair governing ``path``: the nearest folder above it holding ``.collapse-guard/signing.pub``
    (as git finds ``.git``), so every writer of the workspace (the ledger included) finds it alone."""
    for folder in [Path(path).resolve(), *Path(path).resolve().parents]:
        if (folder / KEY_DIR / PUBLIC_KEY).is_file():
            return Keys(folder)
    return None


def create_keys(workspace: Path) -> list[str]:
    """A fresh EC P-256 key pair, unless the workspace has a public key already (or the secret is in the
    environment: then only its public half is written). Never overwrites: old signatures would stop verifying."""
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
    created.append(f"public key {KEY_DIR}/{PUBLIC_KEY} (commit it: reviewers verify with it)")
    return created


def sign(target: Path, signature: Path, keys: Keys, ignore: Iterable[str] = ()) -> None:
    """Sign a file, or every file of a folder but ``ignore`` (names relative to it), into ``signature``."""
    from model_signing import signing

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
    public_key: Path,
    *,
    label: str,
    error: type[CollapseGuardError],
    ignore: Iterable[str] = (),
) -> None:
    """Raise ``error`` naming ``label`` unless ``signature`` (made by the holder of ``public_key``'s secret)
    covers exactly the bytes of ``target`` (a file, or a folder's files but ``ignore``)."""
    from model_signing import verifying

    if not Path(target).exists():
        raise error("signed file is missing", path=label)
    if not Path(signature).is_file():
        raise error(f"no signature ({Path(signature).name} is missing): not recorded by the pipeline", path=label)
    config = verifying.Config().set_hashing_config(_hashing(target, signature, ignore))
    try:
        config.use_elliptic_key_verifier(public_key=Path(public_key)).verify(Path(target), Path(signature))
    except Exception as exc:  # model-signing raises ValueError (mismatch) and others (malformed bundle)
        raise error(f"signature does not verify ({_first_line(exc)})", path=label) from exc


def sorted_ids_digest(record_ids: Iterable[str]) -> str:
    """A commitment to a set of record ids, independent of their order: sha256 over the sorted ids."""
    digest = hashlib.sha256()
    for record_id in sorted(str(r) for r in record_ids):
        digest.update(record_id.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")


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
        raise ConfigError(f"cannot read the signing key named by {KEY_ENV} ({exc.strerror})", path=source) from exc


def _ignore_in_git(workspace: Path, pattern: str) -> None:
    gitignore = Path(workspace) / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.is_file() else []
    if pattern not in lines:
        atomic.write_text(gitignore, "\n".join([*lines, pattern]) + "\n")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
