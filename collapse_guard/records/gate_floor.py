"""The gate's real-fraction floor for a run, and where it came from.

``gate.min_real_fraction`` is a number (used as it is) or ``auto``: the last safe-zone certificate in the
ledger (``safe_fraction_certified``, written by ``collapse-guard experiment --safe-zone``) plus
``gate.auto_margin``. A certificate holds for the anchor version and the model it was measured on, so
``auto`` refuses to run (ConfigError, exit 2, naming params.yaml) when there is none, or when the anchor the
ledger last recorded or the model in params.yaml differs from the certificate's: a floor certified for other
data or another model is not evidence for this one.

It is resolved once, when a command starts (``resolve``), and the result travels with the run: the gate applies
``AppliedFloor.value`` and each ``gate_verdict`` names ``AppliedFloor.source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collapse_guard.config import Params
from collapse_guard.errors import ConfigError
from collapse_guard.records import ledger
from collapse_guard.records.anchor import AnchorRecord

CERTIFICATE = "safe_fraction_certified"
FROM_PARAMS = "params.yaml gate.min_real_fraction"


@dataclass(frozen=True)
class AppliedFloor:
    value: float
    source: str  # e.g. "params.yaml gate.min_real_fraction", "safe-zone certificate (ledger line 42): ..."

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}


def resolve(params: Params, entries: list[dict[str, Any]] | None = None, strict: bool = True) -> AppliedFloor:
    """The floor ``params`` asks for. ``entries``: the ledger (read from ``params.ledger_path`` when None).

    With ``strict`` (a run: the gate enforces the floor), ``auto`` without a valid certificate is a ConfigError
    naming the cause; without it (an experiment, the audit page: nothing is enforced) it is a floor of 0 whose
    source says why."""
    wanted = params.gate.min_real_fraction
    if wanted != "auto":
        return AppliedFloor(float(wanted), FROM_PARAMS)
    entries = ledger.read(params.ledger_path) if entries is None else entries
    try:
        certificate = usable_certificate(params, entries)
    except ConfigError as error:
        if strict:
            raise
        return AppliedFloor(0.0, f"gate.min_real_fraction auto, not applied: {error.args[0]}")
    body = certificate["body"]
    value = min(1.0, body["r_star"] + params.gate.auto_margin)
    source = (
        f"safe-zone certificate (ledger line {certificate['seq']}): r* {body['r_star']:g} "
        f"+ gate.auto_margin {params.gate.auto_margin:g}"
    )
    return AppliedFloor(round(value, 10), source)


def usable_certificate(params: Params, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The last certificate, if it was measured on the anchor the ledger last recorded and on the model of
    ``params``; otherwise a ConfigError naming what is missing or what changed."""
    certificate = ledger.latest(entries, CERTIFICATE)
    if certificate is None:
        raise ConfigError(
            "gate.min_real_fraction is auto but the ledger holds no safe-zone certificate: run `collapse-guard "
            "experiment --safe-zone` first, or set gate.min_real_fraction to a number",
            path=params.source_file,
        )
    body, line = certificate["body"], certificate["seq"]
    anchor = ledger.latest(entries, *ledger.ANCHOR_RECORDING_KINDS)
    current = anchor["body"]["anchor"] if anchor else None
    if current is None or current.get("digest") != body["anchor"].get("digest"):
        now = (
            f"{current['rows']:,} rows, digest {current['digest'][:12]} (ledger line {anchor['seq']})"
            if current
            else "none recorded"
        )
        raise ConfigError(
            f"gate.min_real_fraction is auto but the anchor changed since the safe-zone certificate (ledger line "
            f"{line}: {body['anchor']['rows']:,} rows, digest {body['anchor']['digest'][:12]}; now {now}): run "
            "`collapse-guard experiment --safe-zone` again, or set gate.min_real_fraction to a number",
            path=params.source_file,
        )
    changed = []
    if body["model_class"] != params.model.class_path:
        changed.append(f"model.class {body['model_class']} -> {params.model.class_path}")
    if body.get("model_options") != params.model.options:
        changed.append(f"model.options {body.get('model_options')} -> {params.model.options}")
    if changed:
        raise ConfigError(
            f"gate.min_real_fraction is auto but the model changed since the safe-zone certificate (ledger line "
            f"{line}): {'; '.join(changed)}. Run `collapse-guard experiment --safe-zone` again, or set "
            "gate.min_real_fraction to a number",
            path=params.source_file,
        )
    return certificate


def with_floor(params: Params, floor: AppliedFloor) -> Params:
    """``params`` with the floor as a number, so every later step reads one value (and the source travels apart)."""
    return params.model_copy(update={"gate": params.gate.model_copy(update={"min_real_fraction": floor.value})})


def certified_anchor(params: Params, searched: AnchorRecord, entries: list[dict[str, Any]] | None = None) -> dict:
    """The anchor a certificate names: the version searched on, with the DVC md5 the ledger recorded for it."""
    entries = ledger.read(params.ledger_path) if entries is None else entries
    recorded = ledger.latest(entries, *ledger.ANCHOR_RECORDING_KINDS)
    fields = searched.to_dict()
    if recorded and recorded["body"]["anchor"].get("digest") == searched.digest:
        fields["dvc_md5"] = recorded["body"]["anchor"].get("dvc_md5", "")
    return fields
