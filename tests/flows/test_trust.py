"""Every attack of issue 11, played end to end through the CLI: each is caught with a named cause and its
exit code, and the anchor is byte-identical afterwards (restored, where the attack removed or edited it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from collapse_guard.errors import AnchorIntegrityError, DataError, GateBlocked, LedgerTampered
from collapse_guard.modality.registry import load_params
from collapse_guard.pipeline import trust
from collapse_guard.records import ledger
from collapse_guard.records.provenance import content_hashes, feature_columns
from tests.conftest import copy_workspace, resign_as_insider, sha256_of, write_params
from tests.flows.test_guarded_retraining import ANCHOR, FIRST_PART, cli, run_json

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
LEDGER = Path("ledger/ledger.jsonl")
GEN1 = Path("generations/gen_001")


@pytest.fixture(scope="module")
def signed_once(tmp_path_factory, prefect_server) -> Path:
    """Generations 0 and 1 recorded and signed, once for the module; tests get copies of it (``signed``)."""
    workspace = tmp_path_factory.mktemp("signed") / "ws"
    workspace.mkdir()
    write_params(workspace)
    result, _ = run_json(workspace, 1)
    assert result.exit_code == 0, result.output
    assert (workspace / GEN1 / "signature.sigstore.json").is_file()
    return workspace


@pytest.fixture
def signed(signed_once: Path, tmp_path: Path) -> Path:
    """A workspace of its own with generations 0 and 1 recorded and signed."""
    return copy_workspace(signed_once, tmp_path / "ws")


def _error(result) -> str:
    return json.loads(result.stdout)["error"]["message"]


def _run_fails(workspace: Path, code: int, *fragments: str) -> str:
    anchor_before = sha256_of(workspace / ANCHOR)
    result = cli(workspace, "run", "--generations", "1", "--json")
    assert result.exit_code == code, result.output
    message = _error(result)
    for fragment in fragments:
        assert fragment in message, message
    assert sha256_of(workspace / ANCHOR) == anchor_before
    return message


def test_laundered_synthetic_records_are_blocked_naming_the_file_and_records(signed: Path):
    batch = signed / GEN1 / "synthetic.parquet"
    frame = pd.read_parquet(batch)
    frame["source"], frame["generation"] = "real", 0
    frame["record_id"] = content_hashes(frame[feature_columns(frame)])  # ids recomputed, as an attacker would
    frame.to_parquet(batch, index=False)
    message = _run_fails(signed, DataError.exit_code, str(GEN1 / "synthetic.parquet"), "labelled real")
    assert "records " in message and "synthetic.parquet" in message


def test_laundering_re_signed_by_a_key_holder_is_still_blocked_by_the_gate(signed: Path):
    batch = signed / GEN1 / "synthetic.parquet"
    frame = pd.read_parquet(batch)
    frame["source"], frame["generation"], frame["model_id"] = "real", 0, ""
    frame.to_parquet(batch, index=False)
    resign_as_insider(batch)
    anchor_before = sha256_of(signed / ANCHOR)
    result = cli(signed, "run", "--generations", "1", "--json")
    assert result.exit_code == GateBlocked.exit_code, result.output
    failures = json.loads(result.stdout)["generations"][-1]["gate"]["failures"]
    laundered = [f for f in failures if "labelled real are in the signed anchor" in f]
    assert laundered and "records " in laundered[0] and str(GEN1 / "synthetic.parquet") in laundered[0]
    assert sha256_of(signed / ANCHOR) == anchor_before


@pytest.mark.parametrize("name", ["synthetic.parquet", "mixture.parquet", "model.pt", "gate.json", "metrics.json"])
def test_a_single_byte_change_to_any_signed_file_names_it(signed: Path, name: str):
    params = load_params(signed / "params.yaml")
    target = signed / GEN1 / name
    original = target.read_bytes()
    target.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(DataError, match=name):
        trust.verify_generations(params, 1)
    assert any(name in problem for problem in trust.audit_problems(params))
    target.write_bytes(original)
    assert trust.verify_generations(params, 1) == 2


def test_a_crafted_model_file_is_refused_before_it_is_loaded(signed: Path):
    import torch

    class Payload:
        def __reduce__(self):
            return (Path.touch, (signed / "pwned",))

    torch.save({"payload": Payload()}, signed / GEN1 / "model.pt")
    _run_fails(signed, DataError.exit_code, "model.pt", str(GEN1))
    assert not (signed / "pwned").exists()


def test_a_rewritten_ledger_with_recomputed_hashes_fails_verify_and_run(signed: Path):
    path = signed / LEDGER
    entries = ledger.read(path)
    recorded = next(e for e in entries if e["kind"] == "anchor_initialised")
    recorded["body"]["anchor"]["rows"] = 10  # vouch for a shrunk anchor
    prev = ledger.GENESIS
    for entry in entries:
        entry["prev"] = prev
        entry["hash"] = prev = ledger.entry_hash(entry)
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    verify = cli(signed, "audit", "verify", "--json")
    assert verify.exit_code == LedgerTampered.exit_code
    assert "signed head" in _error(verify)
    _run_fails(signed, LedgerTampered.exit_code, "signed head")


def test_a_cut_ledger_fails_verify(signed: Path):
    path = signed / LEDGER
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]))
    verify = cli(signed, "audit", "verify", "--json")
    assert verify.exit_code == LedgerTampered.exit_code
    assert "cut short" in _error(verify)


def test_a_deleted_ledger_fails_verify_even_with_its_head(signed: Path):
    path = signed / LEDGER
    path.unlink()
    verify = cli(signed, "audit", "verify", "--json")
    assert verify.exit_code == LedgerTampered.exit_code and "deleted" in _error(verify)
    ledger.head_path(path).unlink()
    ledger.signature_path(path).unlink()
    verify = cli(signed, "audit", "verify", "--json")
    assert verify.exit_code == LedgerTampered.exit_code
    assert "signed statement of" in _error(verify) and "deleted or cut short" in _error(verify)
    _run_fails(signed, LedgerTampered.exit_code, "deleted or cut short")


def test_a_deleted_anchor_is_restored_from_dvc_never_from_the_source(signed: Path):
    before = sha256_of(signed / ANCHOR)
    shutil.rmtree(signed / ANCHOR)  # the whole dataset: every part and the manifest
    result = cli(signed, "run", "--generations", "1", "--json")
    assert result.exit_code == 0, result.output
    assert "restored the anchor" in result.stderr
    assert sha256_of(signed / ANCHOR) == before
    assert ledger.latest(ledger.read(signed / LEDGER), "anchor_restored") is not None


def test_an_edited_anchor_is_refused_by_ingest_and_restored_by_run(signed: Path, tmp_path: Path):
    import numpy as np

    from collapse_guard.tabular.default_data import sample_default

    before = sha256_of(signed / ANCHOR)
    frame = pd.read_parquet(signed / FIRST_PART)
    frame.loc[5, "x0"] = frame.loc[5, "x0"] + 1.0
    frame.to_parquet(signed / FIRST_PART, index=False)
    tampered = sha256_of(signed / ANCHOR)
    new = tmp_path / "new_real.csv"
    sample_default(20, 0.025, np.random.default_rng(5)).to_csv(new, index=False)
    result = cli(signed, "ingest", str(new), "--json")
    assert result.exit_code == AnchorIntegrityError.exit_code
    assert "not the last recorded version" in _error(result) and "a value was edited" in _error(result)
    assert sha256_of(signed / ANCHOR) == tampered  # ingest wrote nothing
    result = cli(signed, "run", "--generations", "1", "--json")
    assert result.exit_code == 0, result.output
    assert sha256_of(signed / ANCHOR) == before


def test_a_single_file_workspace_is_migrated_by_run_and_keeps_verifying(workspace: Path, monkeypatch):
    from collapse_guard.pipeline import setup
    from collapse_guard.records import anchor, atomic

    # `init` as it was before anchor datasets: the anchor written (and signed, and DVC-tracked) as one file
    monkeypatch.setattr(anchor, "create", lambda path, frame: atomic.write_parquet(path, frame))
    monkeypatch.setattr(setup, "migrate_anchor", lambda params: [])
    assert cli(workspace, "init").exit_code == 0
    monkeypatch.undo()
    assert (workspace / ANCHOR).is_file()
    old_bytes = sha256_of(workspace / ANCHOR)
    recorded = ledger.latest(ledger.read(workspace / LEDGER), "anchor_initialised")["body"]["anchor"]

    result, payload = run_json(workspace, 1)

    assert result.exit_code == 0, result.output
    assert "migrated the anchor data/anchor/real.parquet" in result.stderr
    assert sha256_of(workspace / FIRST_PART) == old_bytes  # one part: the old file, byte for byte
    migrated = ledger.latest(ledger.read(workspace / LEDGER), "anchor_migrated")["body"]
    assert (migrated["anchor"]["rows"], migrated["anchor"]["digest"]) == (recorded["rows"], recorded["digest"])
    assert migrated["anchor"]["dvc_md5"].endswith(".dir") and migrated["from"]["dvc_md5"] == recorded["dvc_md5"]
    assert [g["anchor_rows"] for g in payload["generations"]] == [recorded["rows"]] * 2
    assert cli(workspace, "audit", "verify").exit_code == 0


def test_export_and_verify_a_bundle_elsewhere_with_the_public_key_alone(signed: Path, tmp_path: Path):
    exported = cli(signed, "audit", "export", str(tmp_path / "bundle"), "--json")
    assert exported.exit_code == 0, exported.output
    elsewhere = tmp_path / "reviewer" / "evidence"
    elsewhere.parent.mkdir()
    shutil.move(tmp_path / "bundle", elsewhere)
    key = tmp_path / "reviewer" / "trusted.pub"
    shutil.copyfile(signed / ".collapse-guard/signing.pub", key)
    shutil.rmtree(signed)  # nothing of the workspace is left: no secret, no data
    ok = cli_bundle(elsewhere, key)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["generations"] == ["gen_000", "gen_001"]

    statement = elsewhere / "generations/gen_001/provenance.json"
    statement.write_text(statement.read_text().replace('"generation": 1', '"generation": 7'))
    bad = cli_bundle(elsewhere, key)
    assert bad.exit_code == LedgerTampered.exit_code and "gen_001" in _error(bad)


def cli_bundle(bundle: Path, key: Path):
    from typer.testing import CliRunner

    from collapse_guard.cli import app

    return CliRunner().invoke(app, ["audit", "verify", "--bundle", str(bundle), "--public-key", str(key), "--json"])
