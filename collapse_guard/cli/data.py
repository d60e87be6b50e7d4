"""Real data in (`ingest`), and our watermark looked for in texts of unknown origin (`detect`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collapse_guard.cli.invocation import JsonOption, ParamsOption, command, emit, explained, holding, load, working


@command
def ingest(
    path: Annotated[
        Path,
        typer.Argument(
            help="Tabular: Parquet or CSV of new real records (same features as the anchor). Text: a JSONL file "
            '(one {"text": ...} per line), a Parquet file with a text column, or a folder of .txt files.'
        ),
    ],
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
    drop_repeated: Annotated[
        bool,
        typer.Option(
            "--drop-repeated",
            help="Leave out incoming rows whose values equal an anchor record (default: keep them; two records "
            "with equal values are two records).",
        ),
    ] = False,
    allow_same_file: Annotated[
        bool,
        typer.Option(
            "--allow-same-file",
            help="Ingest a file whose bytes were already ingested (refused by default, exit code 13: its rows "
            "would be appended twice); the ledger records that it was allowed.",
        ),
    ] = False,
) -> None:
    """Append new real data to the anchor (it only grows), version it with DVC, and record it in the ledger.

    Text is screened first, as a crawl of unknown origin: documents carrying a watermark of any known key, and
    exact or near-duplicates of the anchor or of each other, are quarantined (with reason and z-score) in
    `paths.quarantine_dir` instead. A malformed file (bad JSON line, wrong encoding, empty text) is rejected
    whole, naming the line: nothing is appended (exit code 3). A table is validated first by the `incoming`
    suite in expectations/ (same columns in any order, types, no missing, infinite or mistyped values, no
    empty column, no CSV index, no provenance columns of its own): a refusal names the file, the rule, the column
    and the first rows, and appends nothing (exit code 3).

    The same bytes are ingested once: the ledger records each file's SHA-256 and rows, and a file already ingested
    is refused before it is read (exit code 13, nothing written) unless `--allow-same-file` is given."""
    params = load(params_file)
    from collapse_guard.modality.registry import modality_for
    from collapse_guard.pipeline.ingest import ingest_real
    from collapse_guard.pipeline.recovery import clean_files
    from collapse_guard.records import alerts
    from collapse_guard.records.runtime import return_freed_memory
    from collapse_guard.tasks.record_hashing import record_hashing

    return_freed_memory()  # before the anchor's index is loaded: an ingest is a long screening (records/runtime.py)
    with (
        alerts.on_failure(params.alerts, journal=alerts.journal_path(params.ledger_path)),
        holding(params, "collapse-guard ingest"),
        explained(params),
        working(f"reading and screening {path}", as_json) as status,
    ):
        for cleaned in clean_files(params):
            typer.echo(cleaned, err=True)
        hashing = record_hashing(modality_for(params))  # a crawl past the modality's threshold: hashed on Dask
        hasher = None if hashing is None else counted(hashing.stream, status, f"reading and screening {path}")
        result = ingest_real(
            params, path, keep_repeated=not drop_repeated, hasher=hasher, allow_same_file=allow_same_file
        )
    emit(result, as_json, lambda: _print_ingested(result))


def _print_ingested(result: dict) -> None:
    for migrated in result["migrated"]:
        typer.echo(migrated, err=True)
    typer.echo(f"appended {result['added']} records; anchor has {result['rows']}")
    if result["same_file_ingested_at"]:
        lines = ", ".join(str(line) for line in result["same_file_ingested_at"])
        typer.echo(f"the same file was ingested before (ledger line {lines}): appended again (--allow-same-file)")
    if result["repeated"]:
        kept = "kept as records of their own" if result["repeated_kept"] else "left out (--drop-repeated)"
        typer.echo(f"{result['repeated']} of {result['source_rows']} incoming rows equal existing records: {kept}")
    if result["quarantine"]:
        reasons = ", ".join(f"{count} {reason}" for reason, count in result["rejected"].items())
        typer.echo(f"quarantined {reasons}: {result['quarantine']}")


def counted(hasher, status, message: str):
    """``hasher`` (a crawl's batch hasher), telling ``status`` (a spinner, or None) how many documents have been
    screened so far: a crawl of millions takes minutes."""
    if status is None:
        return hasher

    def counting(batches, settings, screen):
        done = 0
        for batch, hashed in hasher(batches, settings, screen):
            yield batch, hashed
            done += len(batch)
            status.update(f"{message}: {done:,} documents screened")

    return counting


@command
def detect(
    path: Annotated[
        Path, typer.Argument(help='Texts to check: JSONL ({"text": ...} per line), Parquet, or a folder of .txt.')
    ],
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Look for our watermark in texts, with every key and scheme the workspace recorded (`text.watermark`): per
    document the evidence of the test that decided it (units scored, whole-text z, best window z and span, key
    and scheme) and the document's false-positive bound, corrected for the number of key x scheme tests run, with
    the verdict (marked / uncertain / clean; docs/watermark-detection.md). Read-only."""
    params = load(params_file)
    from collapse_guard.text.corpus import read_corpus
    from collapse_guard.text.modality import TextModality

    modality = TextModality(params)
    with working(f"scoring {path}", as_json):
        texts = read_corpus(path)["text"].tolist()
        scores = modality.screen().scores(texts)
    scores.insert(0, "document", range(1, len(scores) + 1))
    emit({"documents": scores.to_dict(orient="records")}, as_json, lambda: _print_scores(modality, scores))


def _print_scores(modality, scores) -> None:
    from rich.console import Console
    from rich.table import Table

    watermark = modality.params.text.watermark
    tests = int(scores["tests"].max()) if len(scores) else 0
    table = Table(
        title=f"watermark detection (marked: false-positive bound <= {watermark.fpr:g} per document, "
        f"over {tests} key x scheme tests)"
    )
    for column in ("doc", "scored", "z", "best window z", "span", "key id", "scheme", "bound", "verdict"):
        table.add_column(column, justify="right")
    for row in scores.itertuples():
        table.add_row(
            str(row.document),
            str(row.scored),
            f"{row.z:.2f}",
            f"{row.window_z:.2f}",
            f"{row.span_start}-{row.span_end}",
            row.key_id,
            row.scheme,
            f"{row.fpr_bound:.1e}",
            row.verdict,
        )
    Console().print(table)
