"""Keys, crashes and bundles through the CLI (issue 24): every key case stops `run` before a write with a named
cause and exit 11, and the ledger verifies once the right key is back; a forged chain with the keys deleted
fails verification; a `run` killed (kill -9) in the middle of a ledger append is recovered by the next run;
tabular and text bundles round-trip, and a bundle checked only against its own key is not "verified" (exit 12);
key rotation is recorded and verification follows it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.errors import LedgerTampered, SigningKeyError, Unauthenticated
from collapse_guard.records import faults, keychain, ledger, signing
from tests.conftest import TINY_TEXT, sha256_of, write_params
from tests.ledger_kinds import assert_documented

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
KEYS = Path(".collapse-guard")
CLI = str(Path(sys.executable).parent / "collapse-guard")


def cli(workspace: Path, *args: str, env: dict | None = None):
    return CliRunner().invoke(app, [*args, "--params", str(workspace / "params.yaml")], env=env)


def verify(*args: str):
    return CliRunner().invoke(app, ["audit", "verify", *args, "--json"])


def error(result) -> str:
    return json.loads(result.stdout)["error"]["message"]


def trail(workspace: Path) -> dict[str, str]:
    """The bytes of everything a run records: the ledger folder and the anchor."""
    files = {p.name: sha256_of(p) for p in sorted((workspace / "ledger").iterdir()) if not p.name.endswith(".lock")}
    anchors = [p for p in (workspace / "data" / "anchor").iterdir() if p.name.endswith(".parquet")]
    return {**files, **{p.name: sha256_of(p) for p in anchors}}


def fingerprint(workspace: Path) -> str:
    return (workspace / KEYS / signing.FINGERPRINT).read_text().strip()


def new_private_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def tabular(tmp_path_factory) -> Path:
    workspace = tmp_path_factory.mktemp("keys") / "tabular"
    workspace.mkdir()
    write_params(workspace)
    os.environ.pop(signing.KEY_ENV, None)
    assert cli(workspace, "init").exit_code == 0
    return workspace


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    workspace = tmp_path_factory.mktemp("keys") / "text"
    workspace.mkdir()
    write_params(workspace, "examples/text/params.yaml", TINY_TEXT)
    os.environ.pop("COLLAPSE_GUARD_WATERMARK_KEY", None)
    assert cli(workspace, "init").exit_code == 0
    return workspace


@pytest.fixture
def keys_back(tabular: Path):
    """Whatever a test does to the keys, the right ones are back afterwards."""
    saved = {p: p.read_bytes() for p in (tabular / KEYS).glob("signing.*")}
    yield saved
    for path, data in saved.items():
        path.write_bytes(data)
    (tabular / KEYS / signing.PRIVATE_KEY).chmod(0o600)


def _deleted(ws: Path, tmp: Path) -> dict:
    (ws / KEYS / "signing.key").unlink()
    (ws / KEYS / "signing.pub").unlink()
    return {}


def _replaced(ws: Path, tmp: Path) -> dict:
    (ws / KEYS / "signing.key").write_bytes(new_private_key())
    return {}


def _corrupted(ws: Path, tmp: Path) -> dict:
    (ws / KEYS / "signing.key").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    return {}


def _missing(ws: Path, tmp: Path) -> dict:
    """The secret kept outside the workspace (as CI does) and COLLAPSE_GUARD_SIGNING_KEY unset in this job."""
    shutil.move(ws / KEYS / "signing.key", tmp / "ci-secret.pem")
    return {signing.KEY_ENV: ""}


def _world_readable(ws: Path, tmp: Path) -> dict:
    (ws / KEYS / "signing.key").chmod(0o644)
    return {}


KEY_CASES: dict[str, tuple[Callable[[Path, Path], dict], str]] = {
    "deleted": (_deleted, "signing.pub"),
    "replaced": (_replaced, "signing.key"),
    "corrupted": (_corrupted, "signing.key"),
    "missing": (_missing, "signing.key"),
    "world-readable": (_world_readable, "signing.key"),
}


@pytest.mark.parametrize("case", list(KEY_CASES))
def test_every_key_case_stops_run_before_a_write_with_a_named_cause(tabular: Path, keys_back, tmp_path, case):
    expected = signing.short(ledger.signed_head(tabular / "ledger/ledger.jsonl").key)
    before = trail(tabular)
    mutate, names = KEY_CASES[case]
    env = mutate(tabular, tmp_path)
    result = cli(tabular, "run", "--generations", "1", "--json", env=env)
    assert result.exit_code == SigningKeyError.exit_code, result.output
    message = error(result)
    assert names in message and expected in message, message
    assert trail(tabular) == before  # nothing written: the ledger, its head, its signature and the anchor
    for path, data in keys_back.items():
        path.write_bytes(data)
    (tabular / KEYS / signing.PRIVATE_KEY).chmod(0o600)
    assert verify("--params", str(tabular / "params.yaml")).exit_code == 0


def test_a_replaced_key_stops_ingest_before_a_write(tabular: Path, keys_back, tmp_path):
    import numpy as np

    from collapse_guard.tabular.default_data import sample_default

    new = tmp_path / "new_real.csv"
    sample_default(20, 0.025, np.random.default_rng(5)).to_csv(new, index=False)
    before = trail(tabular)
    _replaced(tabular, tmp_path)
    result = cli(tabular, "ingest", str(new), "--json")
    assert result.exit_code == SigningKeyError.exit_code and "signing.key" in error(result)
    assert trail(tabular) == before


def test_a_forged_chain_with_the_keys_deleted_fails_verification(tabular: Path, keys_back):
    path = tabular / "ledger/ledger.jsonl"
    original = path.read_bytes()
    entries = ledger.read(path)
    entries[0]["body"]["anchor"]["rows"] = 10  # vouch for a shrunk anchor, every hash recomputed
    prev = ledger.GENESIS
    for entry in entries:
        entry["prev"] = prev
        entry["hash"] = prev = ledger.entry_hash(entry)
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    try:
        _deleted(tabular, tabular)
        result = verify("--params", str(tabular / "params.yaml"))
        assert result.exit_code == LedgerTampered.exit_code and "public key" in error(result)
        assert cli(tabular, "run", "--json").exit_code == SigningKeyError.exit_code
        assert not (tabular / KEYS / "signing.key").exists()  # and no new key was made
    finally:
        path.write_bytes(original)


@pytest.fixture(scope="module")
def recovered(tabular: Path) -> tuple[Path, object]:
    """A `collapse-guard run` killed (SIGKILL) after writing its first ledger line, before committing the head;
    then the next run."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), faults.ENV: "ledger.line_written"}
    env.pop(signing.KEY_ENV, None)
    killed = subprocess.run(
        [CLI, "run", "-n", "1", "--json", "--params", str(tabular / "params.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    return tabular, cli(tabular, "run", "--generations", "1", "--json")


def test_a_run_killed_mid_append_is_recovered_by_the_next_run(recovered):
    workspace, result = recovered
    assert result.exit_code == 0, result.output
    assert "adopted line" in result.stderr
    entries = ledger.read(workspace / "ledger/ledger.jsonl")
    kinds = [e["kind"] for e in entries]
    assert kinds.count("run_started") == 2 and ledger.RECOVERED in kinds
    assert ledger.RECOVERED in assert_documented(workspace / "ledger/ledger.jsonl")
    assert verify("--params", str(workspace / "params.yaml")).exit_code == 0


def test_a_tabular_bundle_round_trips_and_is_authenticated_only_by_a_trusted_key(recovered, tmp_path: Path):
    workspace, _ = recovered
    bundle = tmp_path / "bundle"
    assert cli(workspace, "audit", "export", str(bundle)).exit_code == 0
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["ledger"]["file"] == "ledger/ledger.jsonl"
    pinned = verify("--bundle", str(bundle), "--fingerprint", fingerprint(workspace))
    assert pinned.exit_code == 0, pinned.output
    assert json.loads(pinned.stdout)["generations"] == ["gen_000", "gen_001"]
    own = verify("--bundle", str(bundle))
    assert own.exit_code == Unauthenticated.exit_code
    assert json.loads(own.stdout)["authenticated"] is False


def test_a_text_bundle_round_trips_whatever_the_ledger_is_called(text: Path, tmp_path: Path):
    bundle = tmp_path / "text-bundle"
    assert cli(text, "audit", "export", str(bundle)).exit_code == 0
    assert json.loads((bundle / "bundle.json").read_text())["ledger"]["file"] == "ledger/text.jsonl"
    trusted = verify("--bundle", str(bundle), "--public-key", str(text / KEYS / "signing.pub"))
    assert trusted.exit_code == 0, trusted.output
    pinned = verify("--bundle", str(bundle), "--fingerprint", fingerprint(text))
    report = json.loads(pinned.stdout)
    assert pinned.exit_code == 0 and report["authenticated"] is True
    assert report["key"]["source"] == "--fingerprint" and report["key"]["fingerprint"] in fingerprint(text).lower()
    assert any("from the key you trust" in line for line in report["proved"])

    own = verify("--bundle", str(bundle))  # only the key the bundle carries: self-consistent, not verified
    assert own.exit_code == Unauthenticated.exit_code
    said = json.loads(own.stdout)
    assert said["authenticated"] is False and "self-consistent" in said["error"]["message"]
    assert "bundle's own" in said["key"]["source"]

    other = signing.fingerprint_of(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert verify("--bundle", str(bundle), "--fingerprint", other).exit_code == LedgerTampered.exit_code


@pytest.mark.parametrize("case", ["deleted", "world-readable"])
def test_a_watermark_key_case_stops_run_before_a_write(text: Path, case: str):
    key_file = text / KEYS / "watermark.key"
    record = json.loads((text / KEYS / "watermark.json").read_text())
    saved = key_file.read_bytes()
    before = trail(text)
    key_file.unlink() if case == "deleted" else key_file.chmod(0o644)
    try:
        result = cli(text, "run", "--json")
        assert result.exit_code == SigningKeyError.exit_code, result.output
        assert "watermark.key" in error(result)
        assert case != "deleted" or record["current"] in error(result)
        assert not key_file.exists() or case != "deleted"  # no new key was written
        assert trail(text) == before
    finally:
        key_file.write_bytes(saved)
        key_file.chmod(0o600)
    assert verify("--params", str(text / "params.yaml")).exit_code == 0


def test_key_rotation_is_recorded_and_verification_follows_it(text: Path, tmp_path: Path):
    from collapse_guard.modality.registry import load_params
    from collapse_guard.text.modality import TextModality

    old_key = tmp_path / "first.pub"
    shutil.copyfile(text / KEYS / "signing.pub", old_key)
    old_watermark = json.loads((text / KEYS / "watermark.json").read_text())["current"]

    rotated = cli(text, "audit", "rotate-key", "--json")
    assert rotated.exit_code == 0, rotated.output
    done = json.loads(rotated.stdout)
    assert done["previous"] != done["next"] and fingerprint(text) == f"SHA256:{done['next']}"
    watermark = cli(text, "audit", "rotate-key", "--watermark", "--json")
    assert watermark.exit_code == 0, watermark.output
    assert json.loads(watermark.stdout)["previous"] == old_watermark

    entries = ledger.read(text / "ledger/text.jsonl")
    rotation = next(e for e in entries if e["kind"] == keychain.ROTATED)["body"]
    assert (rotation["previous"], rotation["signing_key"]["fingerprint"]) == (done["previous"], done["next"])
    assert any(e["kind"] == "watermark_key_rotated" and e["body"]["previous"] == old_watermark for e in entries)
    assert {keychain.ROTATED, "watermark_key_rotated"} <= assert_documented(text / "ledger/text.jsonl")
    assert verify("--params", str(text / "params.yaml")).exit_code == 0
    from_first = verify("--params", str(text / "params.yaml"), "--public-key", str(old_key))
    assert from_first.exit_code == 0 and json.loads(from_first.stdout)["current_key"] == done["next"]
    screen = TextModality(load_params(text / "params.yaml")).screen()
    assert old_watermark in screen.keys  # the retired watermark key still screens what it marked

    bundle = tmp_path / "rotated-bundle"
    assert cli(text, "audit", "export", str(bundle)).exit_code == 0
    assert verify("--bundle", str(bundle), "--public-key", str(old_key)).exit_code == 0


def test_an_unsigned_workspace_is_not_reported_as_verified(tmp_path: Path):
    workspace = tmp_path / "unsigned"
    workspace.mkdir()
    write_params(workspace)
    ledger.append(workspace / "ledger/ledger.jsonl", "event", {})  # a chain, and no key anywhere
    result = verify("--params", str(workspace / "params.yaml"))
    assert result.exit_code == Unauthenticated.exit_code and "unsigned" in error(result)
