"""What one guarded generation produced, as a small typed result (and the ``--json`` output)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunContext:
    """Identifiers shared by every generation of one ``collapse-guard run``."""

    run_uuid: str
    experiment_id: str
    mlflow_parent_run_id: str


@dataclass
class GenerationOutcome:
    generation: int
    status: str  # "recorded" | "blocked"
    policy: str
    real_fraction: float
    anchor_rows: int
    counts: dict[str, int]
    gate: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    mlflow_run_id: str = ""
    model_id: str = ""
    drift_report: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
