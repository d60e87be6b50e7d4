"""Ingest: the one way new real data joins the anchor (append-only, versioned, recorded).

Incoming data is triaged by its modality first (text: known watermarks and near-copies are turned
away and quarantined with the reason). Nothing is written until the whole input has been read and
checked, so a malformed file leaves the anchor as it was. The new records are written as one new part of
the anchor dataset (collapse_guard/records/anchor.py): the cost of an append is the new rows, and a kill
before the manifest's rename leaves the anchor as it was.

Ingest is idempotent per file: the ledger records the SHA-256 of every ingested file's bytes (a folder of .txt
documents: of their names and bytes) and its rows, and a file whose digest was already ingested is refused
(AlreadyIngested, exit 13) before anything is read or screened, unless the operator passes ``allow_same_file``,
which the entry records. A retried job or a double click would otherwise append the same rows twice to an anchor
that can never shrink. Files that only share some rows keep the anchor's rule (a repeated row is a record of its
own) and the result says how many rows repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from collapse_guard.config import Params
from collapse_guard.errors import AlreadyIngested, AnchorIntegrityError
from collapse_guard.modality.registry import modality_for
from collapse_guard.pipeline import door, keys, setup, trust
from collapse_guard.records import anchor, atomic, ledger, versioning
from collapse_guard.records.provenance import feature_columns, utc_now
from collapse_guard.records.workspace import pipeline_state, relative


def earlier_ingests(entries: list[dict], digest: str) -> list[dict]:
    """The ledger entries that already brought a source with this digest into the anchor (ingests, and the
    initial anchor when it came from a file)."""
    kinds = ("anchor_ingested", "anchor_initialised")
    return [e for e in entries if e.get("kind") in kinds and (e.get("body") or {}).get("source_sha256") == digest]


def refuse_same_file(params: Params, path: Path, digest: str, allow_same_file: bool) -> list[dict]:
    """The earlier ingests of the same bytes; raises AlreadyIngested when there are some and they are not
    explicitly allowed. Reads only the ledger: called before the input is read or screened."""
    earlier = earlier_ingests(ledger.read(params.ledger_path), digest)
    if earlier and not allow_same_file:
        first = earlier[0]
        added = first["body"].get("added", first["body"].get("anchor", {}).get("rows", "?"))
        raise AlreadyIngested(
            f"these bytes were already ingested (sha256 {digest[:16]}…, ledger line {first.get('seq', '?')}, "
            f"{first['kind']} at {first.get('at', '?')}, {added} records): ingesting them again would append the "
            "same rows twice to an anchor that can never shrink. Nothing was written. Pass --allow-same-file to "
            "append them again on purpose (the ledger records it)",
            path=str(path),
        )
    return earlier


def ingest_real(
    params: Params,
    path: Path,
    keep_repeated: bool = True,
    hasher: Callable | None = None,
    allow_same_file: bool = False,
) -> dict:
    """Append ``path``'s real records; ``repeated`` counts those whose values equal a record already there
    (they are kept as records of their own unless ``keep_repeated`` is False). ``hasher``: where a crawl's
    batches are hashed for screening (``Modality.incoming``; the CLI passes Dask's for big crawls).

    A file whose bytes were already ingested is refused first (AlreadyIngested), unless ``allow_same_file``."""
    digest = versioning.source_digest(Path(path))
    earlier = refuse_same_file(params, Path(path), digest, allow_same_file)
    keys.check(params)  # before anything is written
    state = pipeline_state(params)
    trust.check_witnesses(params)
    workspace_keys = trust.workspace_keys(params)
    if workspace_keys is not None and not anchor.exists(params.anchor_path):
        # a deleted anchor comes back from DVC, never from the source
        restored = trust.restore_anchor(params, workspace_keys)
        body = {"anchor": trust.recorded_anchor(params), "reason": restored}
        ledger.append(params.ledger_path, "anchor_restored", body)
    elif workspace_keys is not None and (differences := trust.anchor_differences(params, workspace_keys)):
        raise AnchorIntegrityError(
            f"refusing to ingest onto an anchor that is not the last recorded version: {differences}",
            path=relative(params, params.anchor_path),
        )
    migrated = setup.migrate_anchor(params)
    current = anchor.load(params.anchor_path)
    problems = anchor.check_append_only(current, state.recorded_anchor, relative(params, params.anchor_path))
    if problems:
        raise AnchorIntegrityError("; ".join(problems), path=relative(params, params.anchor_path))
    modality = modality_for(params)
    if modality.door_checks_tables:
        door.admit_incoming(params, Path(path), current, feature_columns(current))
    incoming = modality.incoming(Path(path), current, hasher)
    repeated = int(anchor.repeats_of(current, incoming.records).sum())
    fresh = anchor.new_records(current, incoming.records, keep_repeated=keep_repeated)
    added = len(fresh)
    grown = pd.concat([current, fresh], ignore_index=True)
    quarantine = _quarantine(params, Path(path), incoming.rejected)
    if added:
        anchor.append_part(params.anchor_path, fresh)
    derived = modality.anchor_written(grown)  # after the anchor: a kill in between leaves an index that lags
    md5 = versioning.track(
        params.workspace, [params.anchor_path, *derived], push_timeout=params.tracking.dvc_push_timeout_seconds
    )[relative(params, params.anchor_path)]
    rejected = incoming.rejected["reason"].value_counts().to_dict() if len(incoming.rejected) else {}
    recorded = anchor.describe(grown, dvc_md5=md5).to_dict()
    source_rows = len(incoming.records) + len(incoming.rejected)
    same_file_at = [e.get("seq") for e in earlier]
    ledger.append(
        params.ledger_path,
        "anchor_ingested",
        {
            "source": Path(path).name,
            "source_sha256": digest,
            "source_rows": source_rows,
            "allow_same_file": allow_same_file,
            "same_file_ingested_at": same_file_at,
            "added": added,
            "repeated": repeated,
            "repeated_kept": keep_repeated,
            "rejected": rejected,
            "quarantine": quarantine,
            "anchor": recorded,
        },
    )
    trust.sign_anchor(params, grown, recorded)
    return {
        "source_sha256": digest,
        "source_rows": source_rows,
        "same_file_ingested_at": same_file_at,
        "added": added,
        "repeated": repeated,
        "repeated_kept": keep_repeated,
        "rows": len(grown),
        "dvc_md5": md5,
        "rejected": rejected,
        "quarantine": quarantine,
        "migrated": migrated,
    }


def _quarantine(params: Params, source: Path, rejected) -> str:
    """Write the turned-away items (with reason and scores) beside the anchor; returns the file, or ""."""
    if rejected is None or rejected.empty:
        return ""
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    target = params.resolve(params.paths.quarantine_dir) / f"{source.stem}-{stamp}.jsonl"
    atomic.write_text(target, rejected.to_json(orient="records", lines=True, force_ascii=False))
    return relative(params, target)
