"""The signed statements: C2PA's vocabulary, a commitment to the record ids, and the anchor's subject digest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from collapse_guard.errors import AnchorIntegrityError
from collapse_guard.records import attestation, ledger, signing


@pytest.fixture
def keys(tmp_path: Path, monkeypatch) -> signing.Keys:
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    signing.create_keys(tmp_path)
    return signing.Keys(tmp_path)


def _records(ids: list[str], source: str) -> pd.DataFrame:
    return pd.DataFrame({"record_id": ids, "source": source, "x0": range(len(ids))})


def test_a_generation_statement_says_what_made_the_data():
    statement = attestation.generation_statement(
        generation=2,
        model_id="gen002-abc",
        parent_model_id="gen001-def",
        model_class="m:M",
        decoding={"temperature": 0.9},
        anchor={"rows": 10, "digest": "d"},
        synthetic=_records(["s2", "s1"], "synthetic"),
        mixture=_records(["r1", "s1", "s2"], "real"),
        ledger_head=ledger.Head(7, "h" * 64),
    )
    actions = attestation.assertion(statement, "c2pa.actions.v2")["actions"]
    created = next(a for a in actions if a["action"] == "c2pa.created")
    assert created["digitalSourceType"].endswith("/trainedAlgorithmicData")
    assert created["parameters"] == {
        "generator_model_id": "gen001-def",
        "decoding": {"temperature": 0.9},
        "file": "synthetic.parquet",
    }
    data = attestation.assertion(statement, "org.collapse-guard.generation")
    assert data["synthetic_records"] == {"count": 2, "sorted_ids_sha256": signing.sorted_ids_digest(["s1", "s2"])}
    assert data["ledger_head"] == {"seq": 7, "hash": "h" * 64}
    assert attestation.witnessed_head(statement) == 7


def test_an_anchor_verifies_until_one_byte_changes(keys: signing.Keys, tmp_path: Path):
    path = tmp_path / "real.parquet"
    frame = _records(["r1", "r2"], "real")
    frame.to_parquet(path, index=False)
    attestation.sign_anchor(path, frame, {"rows": 2}, keys, ledger.Head(1, "h"))
    statement = attestation.verify_anchor(path, keys, "real.parquet")
    assert attestation.assertion(statement, "org.collapse-guard.anchor")["real_records"]["count"] == 2
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(AnchorIntegrityError, match="differ from its signed version"):
        attestation.verify_anchor(path, keys, "real.parquet")


def test_an_anchor_dataset_verifies_until_a_part_is_edited_and_names_the_part(keys: signing.Keys, tmp_path: Path):
    from collapse_guard.records import anchor

    path = tmp_path / "real.parquet"
    anchor.create(path, _records(["r1", "r2"], "real"))
    anchor.append_part(path, _records(["r3"], "real"))
    frame = pd.concat([_records(["r1", "r2"], "real"), _records(["r3"], "real")], ignore_index=True)
    attestation.sign_anchor(path, frame, {"rows": 3}, keys, ledger.Head(1, "h"))
    attestation.verify_anchor(path, keys, "real.parquet")
    part = path / "part-00001.parquet"
    data = part.read_bytes()
    part.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(AnchorIntegrityError, match="part part-00001.parquet differs"):
        attestation.verify_anchor(path, keys, "real.parquet")
    part.write_bytes(data)
    anchor.append_part(path, _records(["r4"], "real"))  # a part appended outside the pipeline: a new manifest
    with pytest.raises(AnchorIntegrityError, match="differ from its signed version"):
        attestation.verify_anchor(path, keys, "real.parquet")


def test_laundered_records_are_those_labelled_real_outside_the_anchor():
    batch = pd.DataFrame({"record_id": ["a", "b", "c"], "source": ["real", "real", "synthetic"]})
    assert attestation.laundered(batch, {"a"}) == ["b"]
