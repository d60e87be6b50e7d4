"""Ingest: the one way new real data joins the anchor (append-only, versioned, recorded)."""

from __future__ import annotations

from pathlib import Path

from collapse_guard import anchor, ledger, versioning
from collapse_guard.config import Params
from collapse_guard.errors import AnchorIntegrityError
from collapse_guard.workspace import pipeline_state, relative


def ingest_real(params: Params, path: Path) -> dict:
    state = pipeline_state(params)
    current = anchor.load(params.anchor_path)
    problems = anchor.check_append_only(current, state.recorded_anchor, relative(params, params.anchor_path))
    if problems:
        raise AnchorIntegrityError("; ".join(problems), path=relative(params, params.anchor_path))
    incoming = anchor.as_real_records(
        anchor.read_records(path), origin=f"{Path(path).name}@md5:{versioning.file_md5(path)[:12]}"
    )
    grown, added = anchor.append(current, incoming)
    anchor.write(params.anchor_path, grown)
    md5 = versioning.track(params.workspace, [params.anchor_path])[relative(params, params.anchor_path)]
    ledger.append(
        params.ledger_path,
        "anchor_ingested",
        {"source": Path(path).name, "added": added, "anchor": anchor.describe(grown, dvc_md5=md5).to_dict()},
    )
    return {"added": added, "rows": len(grown), "dvc_md5": md5}
