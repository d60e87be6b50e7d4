"""Signed statements of what made the data: each generation's folder and each anchor version.

C2PA's own libraries cannot sign Parquet files or checkpoints (c2pa-rs has no sidecar for unsupported
formats), so the statements carry C2PA's vocabulary inside a model-signing bundle instead: a ``c2pa.actions``
assertion whose ``digitalSourceType`` is IPTC's ``trainedAlgorithmicData`` for a synthetic batch (and
``digitalCapture``-style real data for the anchor), the model that made it, its parent, the decoding, the
anchor version it was checked against and the ledger head at signing. Each statement also commits to its
record ids (a sorted-id digest), so a record cannot move from a synthetic batch into "real" unseen.

- a generation: ``gen_NNN/provenance.json`` is written into the folder, and the whole folder (synthetic
  batch, mixture, model, gate verdict, metrics, drift report, statement) is signed into
  ``gen_NNN/signature.sigstore.json``. One changed byte, one added or removed file fails verification.
- an anchor version: ``real.parquet.provenance.json`` beside the anchor names the sha256 of the anchor's
  manifest (which names every part's sha256), rows and ids, and is signed into
  ``real.parquet.provenance.json.sigstore.json`` (the in-toto pattern: a signed statement whose subject is
  the data's digest). Verifying hashes every part against the manifest, so an edited part is named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from collapse_guard.errors import AnchorIntegrityError, CollapseGuardError, DataError
from collapse_guard.records import anchor as anchor_mod
from collapse_guard.records import atomic, ledger, signing
from collapse_guard.records.provenance import REAL, RECORD_ID, SOURCE

STATEMENT = "provenance.json"
SIGNATURE = "signature" + signing.SIGNATURE_SUFFIX
SYNTHETIC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicData"
REAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
CLAIM_GENERATOR = "collapse-guard/0.1.0"


# -- generations --------------------------------------------------------------------------------------------
def generation_statement(
    *,
    generation: int,
    model_id: str,
    parent_model_id: str,
    model_class: str,
    decoding: dict[str, Any],
    anchor: dict[str, Any],
    synthetic: pd.DataFrame | None,
    mixture: pd.DataFrame,
    ledger_head: ledger.Head,
) -> dict[str, Any]:
    """What a generation's signature vouches for, in C2PA's vocabulary (assertions by label)."""
    actions = [
        {
            "action": "c2pa.trained",
            "softwareAgent": CLAIM_GENERATOR,
            "parameters": {"model_id": model_id, "model_class": model_class, "trained_on": "mixture.parquet"},
        }
    ]
    if synthetic is not None:
        actions.insert(
            0,
            {
                "action": "c2pa.created",
                "digitalSourceType": SYNTHETIC_SOURCE_TYPE,
                "softwareAgent": CLAIM_GENERATOR,
                "parameters": {
                    "generator_model_id": parent_model_id,
                    "decoding": decoding,
                    "file": "synthetic.parquet",
                },
            },
        )
    return {
        "claim_generator": CLAIM_GENERATOR,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {
                "label": "org.collapse-guard.generation",
                "data": {
                    "generation": generation,
                    "model_id": model_id,
                    "parent_model_id": parent_model_id,
                    "anchor": anchor,
                    "synthetic_records": _commitment(synthetic),
                    "mixture_records": _commitment(mixture),
                    "ledger_head": {"seq": ledger_head.seq, "hash": ledger_head.hash},
                },
            },
        ],
    }


def recorded_model_statement(
    *,
    generation: int,
    model_id: str,
    parent_model_id: str,
    model_class: str,
    model_sha256: str,
    anchor: dict[str, Any],
    mixture: dict[str, Any],
    gate_line: int,
    ledger_head: ledger.Head,
) -> dict[str, Any]:
    """What the signature of a model trained outside the flow vouches for (``record-model``): the model file's
    digest, the gated mixture it was trained on (its SHA-256, record count and sorted-id digest, and the ledger
    line where the gate passed it), the anchor of that moment, and the ledger head. The same assertion label as a
    generation's, so the evidence bundle checks it the same way."""
    trained_on = {key: mixture.get(key, "") for key in ("file", "sha256", "digest")}
    return {
        "claim_generator": CLAIM_GENERATOR,
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.trained",
                            "softwareAgent": "outside collapse-guard (recorded by " + CLAIM_GENERATOR + ")",
                            "parameters": {
                                "model_id": model_id,
                                "model_class": model_class,
                                "model_sha256": model_sha256,
                                "trained_on": {**trained_on, "gate_ledger_line": gate_line},
                            },
                        }
                    ]
                },
            },
            {
                "label": "org.collapse-guard.generation",
                "data": {
                    "generation": generation,
                    "model_id": model_id,
                    "parent_model_id": parent_model_id,
                    "trained": "elsewhere",
                    "anchor": anchor,
                    "synthetic_records": _commitment(None),
                    "mixture_records": {
                        "count": int(mixture.get("rows", 0)),
                        "sorted_ids_sha256": mixture.get("sorted_ids_sha256", ""),
                    },
                    "ledger_head": {"seq": ledger_head.seq, "hash": ledger_head.hash},
                },
            },
        ],
    }


def sign_generation(folder: Path, statement: dict[str, Any], keys: signing.Keys) -> None:
    atomic.write_json(Path(folder) / STATEMENT, statement)
    signing.sign(Path(folder), Path(folder) / SIGNATURE, keys)


def verify_generation(folder: Path, keys: signing.Keys, label: str) -> None:
    """Raise DataError naming the folder (and the file that changed) unless its signature verifies."""
    signing.verify(Path(folder), Path(folder) / SIGNATURE, keys.verifying(), label=label, error=DataError)


def assertion(statement: dict[str, Any], label: str) -> dict[str, Any]:
    return next((a["data"] for a in statement.get("assertions", []) if a.get("label") == label), {})


def read_statement(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# -- the anchor ---------------------------------------------------------------------------------------------
def anchor_statement_path(anchor_path: Path) -> Path:
    return Path(anchor_path).with_name(Path(anchor_path).name + ".provenance.json")


def anchor_signature_path(anchor_path: Path) -> Path:
    return Path(str(anchor_statement_path(anchor_path)) + signing.SIGNATURE_SUFFIX)


def sign_anchor(anchor_path: Path, frame: pd.DataFrame, record: dict[str, Any], keys: signing.Keys, head) -> None:
    """Sign the anchor version just recorded: its manifest's digest, rows and record ids, and the ledger head.
    The parts are not re-hashed: the manifest holds the digest each got when it was written."""
    statement = {
        "claim_generator": CLAIM_GENERATOR,
        "subject": {"name": Path(anchor_path).name, "sha256": anchor_mod.content_sha256(anchor_path)},
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {"actions": [{"action": "c2pa.published", "digitalSourceType": REAL_SOURCE_TYPE}]},
            },
            {
                "label": "org.collapse-guard.anchor",
                "data": {
                    **record,
                    "real_records": _commitment(frame),
                    "ledger_head": {"seq": head.seq, "hash": head.hash},
                },
            },
        ],
    }
    atomic.write_json(anchor_statement_path(anchor_path), statement)
    signing.sign(anchor_statement_path(anchor_path), anchor_signature_path(anchor_path), keys)


def verify_anchor(anchor_path: Path, keys: signing.Keys, label: str) -> dict[str, Any]:
    """The anchor's signed statement, after checking its signature and that the file is the one it names."""
    statement_path = anchor_statement_path(anchor_path)
    signing.verify(
        statement_path,
        anchor_signature_path(anchor_path),
        keys.verifying(),
        label=f"{label} (statement {statement_path.name})",
        error=AnchorIntegrityError,
    )
    statement = read_statement(statement_path)
    if not anchor_mod.exists(anchor_path):
        raise AnchorIntegrityError("the anchor is missing (or its manifest)", path=label)
    if anchor_mod.content_sha256(anchor_path) != statement.get("subject", {}).get("sha256"):
        raise AnchorIntegrityError(
            "the anchor's bytes differ from its signed version (a value was edited, or rows or parts added or removed)",
            path=label,
        )
    changed = [] if anchor_mod.is_single_file(anchor_path) else anchor_mod.part_problems(anchor_path)
    if changed:  # the manifest is the signed one: a part's bytes are not those it lists
        raise AnchorIntegrityError(
            f"the anchor's bytes differ from its signed version ({'; '.join(changed)})", path=label
        )
    return statement


def witnessed_head(statement: dict[str, Any]) -> int:
    """The ledger sequence number a signed statement saw: the ledger cannot be shorter than this."""
    for item in statement.get("assertions", []):
        head = (item.get("data") or {}).get("ledger_head")
        if head:
            return int(head.get("seq", 0))
    return 0


# -- record-level binding -----------------------------------------------------------------------------------
def laundered(batch: pd.DataFrame, anchor_ids: set[str]) -> list[str]:
    """Records of a synthetic batch labelled real although no signed anchor version holds them."""
    if SOURCE not in batch or RECORD_ID not in batch:
        return []
    real = batch[batch[SOURCE] == REAL]
    return [str(r) for r in real[RECORD_ID] if str(r) not in anchor_ids]


def binding_error(label: str, cause: CollapseGuardError, batch: pd.DataFrame | None, anchor_ids: set[str]):
    """A failed batch signature, with the laundered records named when some are labelled real."""
    bad = laundered(batch, anchor_ids) if batch is not None else []
    if not bad:
        return cause
    shown = ", ".join(r[:12] for r in bad[:3])
    return DataError(
        f"{cause}; {len(bad)} records labelled real are in no signed anchor version (records {shown}): "
        "synthetic data relabelled as real",
        path=label,
    )


def _commitment(frame: pd.DataFrame | None) -> dict[str, Any]:
    if frame is None or RECORD_ID not in frame:
        return {"count": 0, "sorted_ids_sha256": signing.sorted_ids_digest([])}
    return {"count": len(frame), "sorted_ids_sha256": signing.sorted_ids_digest(frame[RECORD_ID])}
