"""A workspace's first step: what ``init`` (and every ``run``) makes sure exists before anything else."""

from __future__ import annotations

from collapse_guard.config import Params
from collapse_guard.modality.registry import modality_for
from collapse_guard.pipeline import door
from collapse_guard.pipeline.gate import check_suites
from collapse_guard.records import anchor as anchor_mod
from collapse_guard.records import atomic, ledger, tracking, versioning
from collapse_guard.records.workspace import relative


def initialise(params: Params) -> list[str]:
    """Create whatever the workspace lacks; never touches an anchor that already exists."""
    modality = modality_for(params)
    check_suites(params.resolve(params.paths.expectations_dir), modality.name, modality.gate_parameters())
    if not params.anchor_path.exists() and modality.door_checks_tables and params.data.source != "embedded":
        door.admit_initial(params, params.resolve(params.data.source))  # before anything is written
    created = versioning.ensure_repo(params.workspace, params.tracking.dvc_remote)
    created += modality.prepare_workspace()
    anchor_path = params.anchor_path
    if not anchor_path.exists():
        atomic.write_parquet(anchor_path, modality.initial_anchor())
        created.append(f"anchor {relative(params, anchor_path)}")
    current = anchor_mod.load(anchor_path)
    md5 = versioning.track(params.workspace, [anchor_path])[relative(params, anchor_path)]
    entries = ledger.read(params.ledger_path)
    if ledger.latest(entries, *ledger.ANCHOR_RECORDING_KINDS) is None:
        ledger.append(
            params.ledger_path,
            "anchor_initialised",
            {
                "anchor": anchor_mod.describe(current, dvc_md5=md5).to_dict(),
                "path": relative(params, anchor_path),
                "origin": str(current["origin"].iloc[0]) if len(current) else "",
            },
        )
        created.append(f"ledger {relative(params, params.ledger_path)}")
    tracking.experiment_id(
        params.tracking_uri, params.tracking.experiment_name, params.resolve(params.tracking.mlflow_artifacts)
    )
    return created
