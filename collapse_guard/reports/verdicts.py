"""What each verdict applied, read back from the ledger (never from today's params.yaml).

A ``gate_verdict`` and a promotion verdict record ``applied``: the ``$PARAMETER`` values they filled, where each
came from and the SHA-256 of each suite file they ran (collapse_guard/pipeline/payloads.py). A
``generation_recorded`` entry records the forecast settings its run applied. The audit page and ``audit show``
read thresholds from here, so a floor changed in params.yaml after a run cannot redraw an old verdict. An entry
written without ``applied`` says so ("floor not recorded") instead of borrowing today's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collapse_guard.config import ForecastParams

FLOOR = "min_real_fraction"
NOT_RECORDED = "floor not recorded"


@dataclass(frozen=True)
class AppliedFloor:
    """The gate's real-fraction floor as a verdict applied it (``value`` None: the entry did not record it)."""

    value: float | None
    source: str = ""

    def describe(self) -> str:
        if self.value is None:
            return NOT_RECORDED
        return f"{self.value:g} ({self.source})" if self.source else f"{self.value:g}"

    def flags(self, real_fraction: float) -> bool:
        """Whether ``real_fraction`` is under the floor that was applied (never, when none was recorded)."""
        return self.value is not None and real_fraction < self.value


def applied_floor(gate_body: dict[str, Any] | None) -> AppliedFloor:
    applied = (gate_body or {}).get("applied") or {}
    value = (applied.get("parameters") or {}).get(FLOOR)
    if value is None:
        return AppliedFloor(None)
    return AppliedFloor(float(value), (applied.get("sources") or {}).get(FLOOR, ""))


CHECKED = "mixture_checked"  # a check of a mixture made elsewhere (collapse_guard/pipeline/mixture_check.py)


def gate_entries(entries: list[dict]) -> dict[int, dict]:
    """The last ``gate_verdict`` entry of each generation; for a model trained elsewhere (``record-model``), the
    ``mixture_checked`` entry its record names (the check that passed its mixture)."""
    gates = {int(e["body"]["generation"]): e for e in entries if e.get("kind") == "gate_verdict"}
    checks = {e.get("seq"): e for e in entries if e.get("kind") == CHECKED}
    for entry in entries:
        if entry.get("kind") == "generation_recorded":
            line = (entry["body"].get("gate") or {}).get("ledger_line")
            if line in checks:
                gates[int(entry["body"]["generation"])] = checks[line]
    return gates


def forecast_settings(entries: list[dict]) -> ForecastParams | None:
    """The forecast settings the last recorded generation's run applied (None: that entry did not record them)."""
    recorded = [e for e in entries if e.get("kind") == "generation_recorded"]
    if not recorded or not recorded[-1]["body"].get("forecast_settings"):
        return None
    return ForecastParams.model_validate(recorded[-1]["body"]["forecast_settings"])


@dataclass
class GenerationRecord:
    """One generation as ``audit show`` tells it: its gate verdict (with what it applied) and, when it was
    recorded, the lineage of models that led to it (newest first)."""

    generation: int
    status: str  # recorded | blocked
    gate: dict[str, Any] | None
    gate_seq: int | None
    lineage: list[dict[str, Any]] = field(default_factory=list)  # ledger entries of generation_recorded
    gate_kind: str = "gate_verdict"  # or mixture_checked: the check that passed a model trained elsewhere

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "status": self.status,
            "gate": self.gate,
            "gate_kind": self.gate_kind,
            "gate_ledger_line": self.gate_seq,
            "lineage": [e["body"] for e in self.lineage],
        }


def generation_record(entries: list[dict], generation: int, lineage: list[dict]) -> GenerationRecord | None:
    """``generation`` as recorded (``lineage``: its generation_recorded chain, collapse_guard.records.ledger
    ``lineage``) or blocked by the gate; None when the ledger has neither."""
    gate = gate_entries(entries).get(generation)
    gate_body, gate_seq = (gate["body"], gate.get("seq")) if gate else (None, None)
    if lineage:
        kind = gate.get("kind", "gate_verdict") if gate else "gate_verdict"
        return GenerationRecord(generation, "recorded", gate_body, gate_seq, lineage, kind)
    if gate is not None and gate["body"].get("verdict") != "passed":
        return GenerationRecord(generation, "blocked", gate_body, gate_seq)
    return None


def describe_applied(applied: dict[str, Any] | None, *, skip: tuple[str, ...] = ("expected_columns",)) -> list[str]:
    """One line per applied parameter (value and source) and suite (digest); long lists (``skip``) by their size."""
    if not applied:
        return ["thresholds: not recorded"]
    lines = []
    sources = applied.get("sources") or {}
    for name, value in (applied.get("parameters") or {}).items():
        shown = f"{len(value)} values" if name in skip and isinstance(value, list) else value
        lines.append(f"{name} = {shown}  ({sources.get(name, 'source not recorded')})")
    for name, digest in (applied.get("suites") or {}).items():
        lines.append(f"suite {name}: sha256 {digest[:16]}")
    return lines


def show_lines(record: GenerationRecord, headline: tuple[str, str], labels: tuple[str, str]) -> list[str]:
    """``audit show``'s text for one generation: its gate verdict in the recorded words, what the gate applied,
    the anchor it observed; then, when recorded, each model of its lineage and what it was trained on."""
    lines: list[str] = []
    gate = record.gate
    if gate is not None:
        mixture = gate.get("mixture") or {}
        anchor = gate.get("anchor_observed") or {}
        floor = applied_floor(gate)
        by = f"check of {mixture.get('file', '?')}, " if record.gate_kind == CHECKED else ""
        lines.append(
            f"generation {record.generation}  gate {gate.get('verdict', '?')}  ({by}ledger line {record.gate_seq})"
        )
        lines.append(
            f"  mixture: {mixture.get('rows', '?')} records, {mixture.get('real', '?')} real + "
            f"{mixture.get('synthetic', '?')} synthetic, real fraction {mixture.get('real_fraction', float('nan')):.3f}"
            + (f" ({NOT_RECORDED})" if floor.value is None else f" against the floor {floor.describe()}")
        )
        lines.append(f"  anchor observed: {anchor.get('rows', '?')} rows, digest {anchor.get('digest', '?')}")
        lines += [f"  failed: {failure}" for failure in gate.get("failures") or []]
        lines += [f"  applied: {line}" for line in describe_applied(gate.get("applied"))]
    elif record.status == "recorded":
        lines.append(f"generation {record.generation}  gate: not recorded")
    (tail, spread), (tail_label, spread_label) = headline, labels
    for entry in record.lineage:
        b = entry["body"]
        mix = b["mixture"]
        metrics = b.get("metrics") or {}
        measured = (
            f"{tail_label} {metrics[tail]:.2f}, {spread_label} {metrics[spread]:.2f}"
            if tail in metrics and spread in metrics
            else "not evaluated (its class cannot sample)"
        )
        where = (
            f"trained outside collapse-guard (model sha256 {b.get('model_sha256', '?')[:16]}), "
            if b.get("trained") == "elsewhere"
            else ""
        )
        lines.append(
            f"generation {b['generation']}  model {b['model_id']}  (parent: {b['parent_model_id'] or 'none'})\n"
            f"  {where}trained on {mix['rows']} records: {mix['real']} real + {mix['synthetic']} synthetic "
            f"({mix['policy']}, real fraction {mix['real_fraction']:.2f}); mixture {mix['file']}\n"
            f"  anchor: {b['anchor']['rows']} rows, DVC md5 {b['anchor']['dvc_md5']}\n"
            f"  {measured}; MLflow run {b['mlflow_run_id']}; ledger line {entry['seq']}"
        )
    return lines
