"""A workspace's first step: what ``init`` (and every ``run``) makes sure exists before anything else."""

from __future__ import annotations

from pathlib import Path

from collapse_guard.config import Params
from collapse_guard.errors import AnchorIntegrityError
from collapse_guard.modality.registry import modality_for
from collapse_guard.pipeline import door, keys, trust
from collapse_guard.pipeline.gate import check_suites
from collapse_guard.records import anchor as anchor_mod
from collapse_guard.records import ledger, signing, tracking, versioning
from collapse_guard.records.workspace import relative


def initialise(params: Params) -> list[str]:
    """Create whatever the workspace lacks; never touches an anchor that already exists, and never creates a key
    for a workspace that has recorded something (its keys are checked first: collapse_guard/pipeline/keys.py)."""
    modality = modality_for(params)
    check_suites(params.resolve(params.paths.expectations_dir), modality.name, modality.gate_parameters())
    keys.check(params)  # before anything is written
    if not anchor_mod.exists(params.anchor_path) and modality.door_checks_tables and params.data.source != "embedded":
        door.admit_initial(params, params.resolve(params.data.source))  # before anything is written
    created = versioning.ensure_repo(params.workspace, params.tracking.dvc_remote)
    created += _apply_remote(params)
    if not keys.initialised(params):
        created += signing.create_keys(params.workspace)
    created += keys.fingerprint_file(params)
    trust.check_witnesses(params)
    created += modality.prepare_workspace()
    anchor_path = params.anchor_path
    recorded = trust.recorded_anchor(params)
    created += _keep_recorded_anchor(params, recorded)
    created += migrate_anchor(params)
    if not anchor_mod.exists(anchor_path):
        anchor_mod.create(anchor_path, modality.initial_anchor())
        created.append(f"anchor {relative(params, anchor_path)}")
    current = anchor_mod.load(anchor_path)
    derived = modality.anchor_written(current)
    md5 = versioning.track(
        params.workspace, [anchor_path, *derived], push_timeout=params.tracking.dvc_push_timeout_seconds
    )[relative(params, anchor_path)]
    created += _source_note(params, recorded)
    if recorded is None:
        ledger.append(
            params.ledger_path,
            "anchor_initialised",
            {
                "anchor": anchor_mod.describe(current, dvc_md5=md5).to_dict(),
                "path": relative(params, anchor_path),
                "origin": str(current["origin"].iloc[0]) if len(current) else "",
                **_source_fields(params),
            },
        )
        created.append(f"ledger {relative(params, params.ledger_path)}")
        trust.sign_anchor(params, current, trust.recorded_anchor(params))
    tracking.experiment_id(
        params.tracking_uri, params.tracking.experiment_name, params.resolve(params.tracking.mlflow_artifacts)
    )
    return created


def _source_fields(params: Params) -> dict:
    """The initial anchor's source file (name and SHA-256), so a later ``ingest`` of the same bytes is refused."""
    source = params.data.source
    if source == "embedded" or not params.resolve(source).exists():
        return {}
    path = params.resolve(source)
    return {"source": path.name, "source_sha256": versioning.source_digest(path)}


def _source_note(params: Params, recorded: dict | None) -> list[str]:
    """An anchor that exists is never made again from ``data.source``: a changed source is said, not silently
    ignored (its records join the anchor by ``ingest``)."""
    if recorded is None or params.data.source == "embedded":
        return []
    first = ledger.latest(ledger.read(params.ledger_path), "anchor_initialised")
    made_from = (first or {}).get("body", {}).get("source", "the embedded default")
    wanted = Path(params.data.source).name
    if made_from == wanted:
        return []
    return [
        f"note: data.source names {wanted}, but the anchor was made from {made_from} and is never made again; add "
        f"the new file's records with `collapse-guard ingest {params.data.source}`"
    ]


def _apply_remote(params: Params) -> list[str]:
    """A changed ``tracking.dvc_remote`` is applied, not ignored: what is pushed from now on goes where params.yaml
    says, and the ledger records the move (data pushed before stays in the old remote: `dvc push` copies it)."""
    configured = versioning.configured_remote(params.workspace)
    wanted = versioning.remote_location(params.workspace, params.tracking.dvc_remote)
    if configured is None or configured == wanted:
        return []
    versioning.set_remote(params.workspace, params.tracking.dvc_remote)
    if params.ledger_path.exists():
        ledger.append(params.ledger_path, "dvc_remote_changed", {"from": configured, "to": wanted})
    return [
        f"changed the DVC remote from {configured} to {wanted} (recorded in the ledger; `dvc push` copies what "
        "the old one holds)"
    ]


def _keep_recorded_anchor(params: Params, recorded: dict | None) -> list[str]:
    """Once the ledger has recorded an anchor, it is never re-created from the source: a missing or altered
    anchor is restored from DVC to the last recorded version (and said so, in the ledger too)."""
    workspace_keys = trust.workspace_keys(params)
    if recorded is None:
        return []
    if workspace_keys is None:
        if not anchor_mod.exists(params.anchor_path):
            raise AnchorIntegrityError(
                "the anchor is missing although the ledger recorded one: restore it with `dvc pull` "
                "(it is never re-created from the source, which could have fewer rows)",
                path=relative(params, params.anchor_path),
            )
        return []
    restored = trust.restore_anchor(params, workspace_keys)
    if not restored:
        return []
    ledger.append(params.ledger_path, "anchor_restored", {"anchor": recorded, "reason": restored})
    return [restored]


def migrate_anchor(params: Params) -> list[str]:
    """An anchor of the single-file layout (before partitioned datasets) becomes a dataset of one part, that
    file byte for byte, so the record order and ids digest are unchanged. The new version is versioned by DVC,
    recorded in the ledger (``anchor_migrated``: same rows and digest, the folder's DVC md5) and re-signed, so
    the append-only check, the restore from DVC and the signatures carry on. Run under the workspace lock,
    after the anchor was checked against (or restored to) its last recorded version."""
    if not anchor_mod.is_single_file(params.anchor_path):
        return []
    label = relative(params, params.anchor_path)
    recorded = trust.recorded_anchor(params)
    frame = anchor_mod.load(params.anchor_path)
    if recorded is not None and anchor_mod.check_append_only(frame, anchor_mod.AnchorRecord(**recorded), label):
        return []  # an anchor that is not a successor of the recorded one is not vouched for: the checks say why
    before = versioning.recorded_md5(params.anchor_path)
    anchor_mod.migrate(params.anchor_path)
    md5 = versioning.track(
        params.workspace, [params.anchor_path], push_timeout=params.tracking.dvc_push_timeout_seconds
    )[label]
    record = anchor_mod.describe(frame, dvc_md5=md5).to_dict()
    if recorded is not None:
        body = {"anchor": record, "path": label, "from": {"layout": "single file", "dvc_md5": before}}
        ledger.append(params.ledger_path, "anchor_migrated", body)
        trust.sign_anchor(params, frame, record)
    return [f"migrated the anchor {label} from one file to a dataset of one part (same {len(frame)} records)"]
