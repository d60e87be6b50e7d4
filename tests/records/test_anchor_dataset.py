"""The anchor as a partitioned Parquet dataset: an append writes one part and publishes it with the manifest's
rename, so a kill before that leaves the anchor as it was; a single-file anchor migrates to one part."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collapse_guard.errors import AnchorIntegrityError, DataError
from collapse_guard.modality.registry import load_params
from collapse_guard.pipeline.recovery import clean_files
from collapse_guard.records import anchor, atomic, ledger
from collapse_guard.records.provenance import stamp_real
from collapse_guard.tabular.default_data import sample_default
from tests.conftest import sha256_of


def real(n: int, seed: int) -> pd.DataFrame:
    return stamp_real(sample_default(n, 0.025, np.random.default_rng(seed)), origin=f"seed{seed}")


def test_an_append_writes_one_part_and_leaves_the_earlier_parts_byte_for_byte(tmp_path: Path):
    path = tmp_path / "real.parquet"
    first = real(40, 0)
    anchor.create(path, first)
    before = sha256_of(path / "part-00000.parquet")
    fresh = anchor.new_records(first, real(7, 1))
    part = anchor.append_part(path, fresh)

    assert part == anchor.Part("part-00001.parquet", 7, sha256_of(path / "part-00001.parquet"))
    assert sorted(p.name for p in path.iterdir()) == [anchor.MANIFEST, "part-00000.parquet", "part-00001.parquet"]
    assert sha256_of(path / "part-00000.parquet") == before
    grown = anchor.load(path)
    expected, _ = anchor.append(first, real(7, 1))
    assert anchor.ids_digest(grown["record_id"]) == anchor.ids_digest(expected["record_id"])  # order kept
    assert json.loads((path / anchor.MANIFEST).read_text())["rows"] == 47
    with pytest.raises(AnchorIntegrityError, match="only grows"):
        anchor.create(path, first)


def test_a_part_written_without_its_manifest_reads_as_the_old_anchor_and_is_cleaned(workspace: Path):
    params = load_params(workspace / "params.yaml")
    path = params.anchor_path
    anchor.create(path, real(40, 0))
    published = anchor.load(path)
    atomic.write_parquet(path / anchor.part_name(1), real(5, 1))  # killed between the part and the manifest

    assert anchor.load(path).equals(published)
    assert anchor.orphan_parts(path) == [path / "part-00001.parquet"]
    done = clean_files(params)
    assert done == [
        "removed a part of the anchor its manifest does not list (an append killed before it published): "
        "data/anchor/real.parquet/part-00001.parquet"
    ]
    assert not (path / "part-00001.parquet").exists() and anchor.load(path).equals(published)
    assert clean_files(params) == []


def test_a_manifest_edited_to_drop_a_published_part_never_gets_that_part_deleted(workspace: Path):
    # Found by hand: the edited manifest made the recorded part look like a killed append's, and the cleanup
    # that runs before the integrity checks deleted real data. Only the next part, with the manifest not behind
    # the ledger's record, is a killed append's.
    params = load_params(workspace / "params.yaml")
    path = params.anchor_path
    anchor.create(path, real(40, 0))
    anchor.append_part(path, anchor.new_records(anchor.load(path), real(5, 1)))
    grown = anchor.load(path)
    ledger.append(params.ledger_path, "anchor_ingested", {"anchor": anchor.describe(grown).to_dict()})
    recorded_part = sha256_of(path / "part-00001.parquet")
    manifest = json.loads((path / anchor.MANIFEST).read_text())
    manifest["parts"], manifest["rows"] = manifest["parts"][:1], 40
    (path / anchor.MANIFEST).write_text(json.dumps(manifest))  # someone drops the last part from the list

    assert clean_files(params) == []
    assert sha256_of(path / "part-00001.parquet") == recorded_part
    problems = anchor.check_append_only(anchor.load(path), anchor.describe(grown), "anchor")
    assert problems and "fewer than the 45" in problems[0]
    # a part beyond the next one is never a killed append's either
    other = workspace / "other.parquet"
    anchor.create(other, real(10, 3))
    atomic.write_parquet(other / anchor.part_name(7), real(2, 2))
    assert anchor.orphan_parts(other) == []


def test_a_missing_or_unreadable_part_or_manifest_is_a_data_error_naming_it(tmp_path: Path):
    path = tmp_path / "real.parquet"
    anchor.create(path, real(40, 0))
    anchor.append_part(path, real(3, 1))
    (path / "part-00001.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(DataError, match="part-00001.parquet"):
        anchor.load(path)
    (path / "part-00001.parquet").unlink()
    with pytest.raises(DataError, match="part-00001.parquet"):
        anchor.load(path)
    (path / anchor.MANIFEST).write_text("{")
    with pytest.raises(DataError, match="manifest cannot be read"):
        anchor.load(path)
    assert anchor.orphan_parts(path) == []  # an unreadable manifest never gets parts deleted
    (path / anchor.MANIFEST).unlink()
    assert not anchor.exists(path) and anchor.orphan_parts(path) == []


def test_a_single_file_anchor_migrates_to_one_part_holding_its_bytes(tmp_path: Path):
    path = tmp_path / "real.parquet"
    frame = real(40, 0)
    atomic.write_parquet(path, frame)  # the layout before datasets
    old_bytes, old = sha256_of(path), anchor.load(path)
    assert anchor.is_single_file(path) and anchor.exists(path)

    part = anchor.migrate(path)

    assert path.is_dir() and sha256_of(path / part.file) == old_bytes and part.rows == 40
    assert anchor.load(path).equals(old)
    assert [p.name for p in tmp_path.iterdir()] == ["real.parquet"]  # nothing left beside it


def test_a_migration_killed_between_its_renames_is_put_back(tmp_path: Path):
    path = tmp_path / "real.parquet"
    atomic.write_parquet(path, real(40, 0))
    old_bytes = sha256_of(path)
    aside = tmp_path / ".real.parquet.single-file.migrating"
    path.rename(aside)  # killed after moving the file aside, before the folder took its place
    (tmp_path / ".real.parquet.abc.migrating").mkdir()

    done = anchor.clean_leftovers(path)

    assert [what.split(" ")[0] for what, _ in done] == ["removed", "put"]
    assert anchor.is_single_file(path) and sha256_of(path) == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["real.parquet"]
