"""Validation at the door, through the command line: a table that must not become anchor is refused by
``init`` and ``ingest`` with exit 3, a message naming the file, the rule, the column and the first offending
rows, and nothing written (no anchor, no ledger, no repository; on ingest the anchor unchanged byte for byte).
No Prefect flow runs here: ``init`` and ``ingest`` do not start one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from collapse_guard.errors import DataError
from collapse_guard.records.anchor import load as load_anchor
from tests.conftest import sha256_of, write_params
from tests.ledger_kinds import assert_documented

ANCHOR = Path("data/anchor/real.parquet")


def table(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """A small survey-like table: two measurements, a 1-5 rating and a text category."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, rows).round(1),
            "weight": rng.normal(70, 8, rows).round(1),
            "rating": rng.integers(1, 6, rows),
            "region": rng.choice(["north", "south", "east"], rows),
        }
    )


def cli(workspace: Path, *args: str):
    result = CliRunner().invoke(app, [*args, "--params", str(workspace / "params.yaml"), "--json"])
    return result, json.loads(result.stdout) if result.stdout.strip() else {}


def source_workspace(tmp_path: Path, frame: pd.DataFrame | None, csv_text: str | None = None) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    path = workspace / "survey.csv"
    if csv_text is not None:
        path.write_text(csv_text)
    else:
        frame.to_csv(path, index=False)
    write_params(workspace, data={"source": "survey.csv"})
    return workspace


def with_value(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    frame = frame.copy()
    if isinstance(value, str):
        frame[column] = frame[column].astype(object)
    elif isinstance(value, float):
        frame[column] = frame[column].astype(float)
    frame.loc[row, column] = value
    return frame


# name -> (the table, fragments the refusal must contain)
REFUSED_AT_INIT = {
    "header only": (None, "height,weight\n", ["the table has 0 row(s); it needs at least 50"]),
    "a single row": (table(1), None, ["the table has 1 row(s); it needs at least 50"]),
    "an all-NaN column": (table().assign(weight=np.nan), None, ["column 'weight' is empty: every value is missing"]),
    "an infinite value": (
        with_value(table(), 6, "height", np.inf),
        None,
        ["rows with an infinite number: 1 of 120, first in column 'height' (rows 7)"],
    ),
    "a string in a number column": (
        with_value(table(), 3, "weight", "heavy"),
        None,
        ["rows with a value of the wrong type", "first in column 'weight' (rows 4)"],
    ),
    "a missing value": (
        with_value(table(), 9, "region", None),
        None,
        ["rows with a missing value: 1 of 120, first in column 'region' (rows 10)"],
    ),
    "a constant column": (
        table().assign(weight=70.0),
        None,
        ["column 'weight' holds a single value; a first anchor must vary"],
    ),
    "a CSV writer's index": (None, table().to_csv(), ["row index left by a CSV writer", "column 'Unnamed: 0'"]),
    "its own provenance": (
        table().assign(source="real", record_id="made-up"),
        None,
        ["column 'source' is a provenance column: provenance is stamped at the door"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED_AT_INIT))
def test_init_refuses_a_bad_table_and_writes_nothing(tmp_path: Path, case: str):
    frame, csv_text, fragments = REFUSED_AT_INIT[case]
    workspace = source_workspace(tmp_path, frame, csv_text)
    before = sorted(p.name for p in workspace.iterdir())
    result, payload = cli(workspace, "init")
    assert result.exit_code == DataError.exit_code, result.output
    message = payload["error"]["message"]
    assert "survey.csv" in message and "refused at the door" in message
    for fragment in fragments:
        assert fragment in message, message
    assert sorted(p.name for p in workspace.iterdir()) == before  # no anchor, ledger, git, DVC or MLflow store


def test_init_refuses_duplicated_column_names(tmp_path: Path):
    workspace = source_workspace(tmp_path, None, "a,b,a\n" + "\n".join(f"{i},{i % 7},{i % 5}" for i in range(150)))
    result, payload = cli(workspace, "init")
    assert result.exit_code == DataError.exit_code
    assert "column names appear more than once: ['a']" in payload["error"]["message"]


@pytest.fixture
def initialised(tmp_path: Path) -> Path:
    workspace = source_workspace(tmp_path, table())
    result, _ = cli(workspace, "init")
    assert result.exit_code == 0, result.output
    return workspace


def ingest(workspace: Path, frame: pd.DataFrame | None, csv_text: str | None = None):
    path = workspace / "new.csv"
    if csv_text is not None:
        path.write_text(csv_text)
    else:
        frame.to_csv(path, index=False)
    return cli(workspace, "ingest", str(path))


REFUSED_AT_INGEST = {
    "an all-NaN column": (table(30, 1).assign(weight=np.nan), ["column 'weight' is empty: every value is missing"]),
    "an infinite value": (
        with_value(table(30, 1), 2, "weight", -np.inf),
        ["rows with an infinite number: 1 of 30, first in column 'weight' (rows 3)"],
    ),
    "its own provenance": (table(30, 1).assign(source="real"), ["column 'source' is a provenance column"]),
    "a missing column": (
        table(30, 1).drop(columns="rating"),
        ["the columns are not the anchor's features (missing: 'rating')"],
    ),
    "a fraction in a whole-number column": (
        with_value(table(30, 1), 5, "rating", 2.5),
        ["a fraction in a whole-number one", "first in column 'rating' (rows 6)"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED_AT_INGEST))
def test_ingest_refuses_a_bad_table_and_leaves_the_anchor(initialised: Path, case: str):
    frame, fragments = REFUSED_AT_INGEST[case]
    anchor_before, ledger_before = sha256_of(initialised / ANCHOR), sha256_of(initialised / "ledger/ledger.jsonl")
    result, payload = ingest(initialised, frame)
    assert result.exit_code == DataError.exit_code, result.output
    message = payload["error"]["message"]
    assert "new.csv" in message
    for fragment in fragments:
        assert fragment in message, message
    assert sha256_of(initialised / ANCHOR) == anchor_before
    assert sha256_of(initialised / "ledger/ledger.jsonl") == ledger_before


def test_ingest_takes_the_same_columns_in_another_order(initialised: Path):
    rows_before = len(load_anchor(initialised / ANCHOR))
    result, payload = ingest(initialised, table(30, 1)[["region", "rating", "weight", "height"]])
    assert result.exit_code == 0, result.output
    assert payload["rows"] == rows_before + 30
    anchor = load_anchor(initialised / ANCHOR)
    assert list(anchor.columns[-4:]) == ["height", "weight", "rating", "region"]
    assert pd.api.types.is_integer_dtype(anchor["rating"])


def test_a_csv_saved_with_its_index_is_refused_in_one_plain_sentence_said_once(tmp_path: Path):
    workspace = source_workspace(tmp_path, None, table().to_csv())
    result = CliRunner().invoke(app, ["init", "--params", str(workspace / "params.yaml")])
    assert result.exit_code == DataError.exit_code
    sentence = (
        "[incoming] column 'Unnamed: 0' is a row index left by a CSV writer: save the file with index=False "
        "(pandas: to_csv(..., index=False)) (in survey.csv)"
    )
    assert result.output == (
        "DataError: real data refused at the door (1 rule(s) of the incoming suite failed; nothing was written):\n"
        f"  {sentence}\n [{workspace / 'survey.csv'}]\n"
    )
    assert "_index_column" not in result.output and result.output.count(sentence) == 1


def test_the_same_file_is_ingested_once_unless_allowed_and_a_partial_overlap_is_reported(
    initialised: Path, tmp_path: Path, monkeypatch
):
    import hashlib
    import shutil

    from collapse_guard.errors import AlreadyIngested
    from collapse_guard.pipeline import ingest as ingest_module
    from collapse_guard.records import ledger

    ledger_file = initialised / "ledger/ledger.jsonl"
    first = table(30, 1)
    result, payload = ingest(initialised, first)
    assert result.exit_code == 0, result.output
    new_file = initialised / "new.csv"
    digest = hashlib.sha256(new_file.read_bytes()).hexdigest()
    entry = ledger.read(ledger_file)[-1]
    assert entry["kind"] == "anchor_ingested" and entry["body"]["source"] == "new.csv"
    assert entry["body"]["source_sha256"] == digest and entry["body"]["source_rows"] == 30
    assert entry["body"]["allow_same_file"] is False and entry["body"]["same_file_ingested_at"] == []
    assert payload["source_sha256"] == digest

    # the same bytes again, under another name: refused before anything is read or screened, nothing written
    again = tmp_path / "retried-upload.csv"
    shutil.copy(new_file, again)
    anchor_before, ledger_before = sha256_of(initialised / ANCHOR), sha256_of(ledger_file)
    monkeypatch.setattr(ingest_module, "modality_for", lambda params: pytest.fail("screened before the digest check"))
    result, payload = cli(initialised, "ingest", str(again))
    assert result.exit_code == AlreadyIngested.exit_code == 13, result.output
    message = payload["error"]["message"]
    assert payload["error"]["type"] == "AlreadyIngested" and "retried-upload.csv" in message
    assert f"sha256 {digest[:16]}" in message and f"ledger line {entry['seq']}" in message
    assert "--allow-same-file" in message
    assert sha256_of(initialised / ANCHOR) == anchor_before and sha256_of(ledger_file) == ledger_before
    # the table the workspace was initialised from counts as ingested too
    result, payload = cli(initialised, "ingest", str(initialised / "survey.csv"))
    assert result.exit_code == 13 and "anchor_initialised" in payload["error"]["message"]
    monkeypatch.undo()

    # a file that shares some rows with the anchor is new bytes: accepted, and the overlap is reported
    rows_before = len(load_anchor(initialised / ANCHOR))
    overlapping = pd.concat([first.iloc[:10], table(20, 2)], ignore_index=True)
    overlapping.to_csv(tmp_path / "overlap.csv", index=False)
    said = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "overlap.csv"), "--params", str(initialised / "params.yaml")]
    )
    assert said.exit_code == 0, said.output
    assert "10 of 30 incoming rows equal existing records: kept as records of their own" in said.output
    assert len(load_anchor(initialised / ANCHOR)) == rows_before + 30

    # allowed explicitly: appended again, and the ledger says so
    result, payload = cli(initialised, "ingest", str(again), "--allow-same-file")
    assert result.exit_code == 0, result.output
    assert payload["added"] == 30 and payload["same_file_ingested_at"] == [entry["seq"]]
    body = ledger.read(ledger_file)[-1]["body"]
    assert body["allow_same_file"] is True and body["same_file_ingested_at"] == [entry["seq"]]
    assert body["source"] == "retried-upload.csv" and body["source_sha256"] == digest
    assert "anchor_ingested" in assert_documented(ledger_file)
    assert CliRunner().invoke(app, ["audit", "verify", "--params", str(initialised / "params.yaml")]).exit_code == 0


def test_a_changed_data_source_is_said_not_silently_ignored(initialised: Path):
    table(30, 2).to_csv(initialised / "later.csv", index=False)
    anchor_before = sha256_of(initialised / ANCHOR)
    write_params(initialised, data={"source": "later.csv"})
    result, payload = cli(initialised, "init")
    assert result.exit_code == 0, result.output
    assert any(
        item.startswith("note: data.source names later.csv, but the anchor was made from survey.csv")
        and "collapse-guard ingest later.csv" in item
        for item in payload["created"]
    )
    assert sha256_of(initialised / ANCHOR) == anchor_before  # never made again from the new source
