"""What the record-keeping writes: ledger entry bodies, MLflow metrics and params, and the run's outcomes.

These are domain decisions (what an auditor can later ask the ledger), so they are plain functions with
unit tests; the tasks only send them to the ledger, MLflow and the terminal.
"""

from __future__ import annotations

from typing import Any

from collapse_guard.modality.base import CurationReport
from collapse_guard.pipeline.gate import GateVerdict
from collapse_guard.pipeline.mixing import MixtureSummary
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.records.anchor import AnchorRecord
from collapse_guard.records.gate_floor import FROM_PARAMS, AppliedFloor


def counts(summary: MixtureSummary, curation: CurationReport | None) -> dict[str, int]:
    """Rows by kind in the mixture, and the curation counts (generation ≥ 1)."""
    return {
        "mixture_rows": summary.rows,
        "real": summary.real,
        "synthetic": summary.synthetic,
        **(curation.to_dict() if curation else {}),
    }


def generation_metrics(
    summary: MixtureSummary, anchor_rows: int, curation: CurationReport | None, metrics: dict[str, float]
) -> dict[str, float]:
    """Every number MLflow gets for a generation (``step = generation``)."""
    return {
        "real_fraction": summary.real_fraction,
        "anchor_rows": anchor_rows,
        "synthetic_count": summary.synthetic,
        **(curation.to_dict() if curation else {}),
        **metrics,
    }


def generation_params(
    *, generation: int, policy: str, anchor: AnchorRecord, seed: int, model_id: str, parent_model_id: str, decoding: str
) -> dict[str, Any]:
    """The MLflow params of a generation's run: enough to find its anchor version and its parent model."""
    return {
        "generation": generation,
        "policy": policy,
        "anchor_dvc_md5": anchor.dvc_md5,
        "anchor_digest": anchor.digest,
        "seed": seed,
        "model_id": model_id,
        "parent_model_id": parent_model_id,
        "decoding": decoding,
    }


def gate_entry(
    *,
    run_uuid: str,
    generation: int,
    verdict: GateVerdict,
    anchor_observed: AnchorRecord,
    summary: MixtureSummary,
    mlflow_run_id: str,
    floor: AppliedFloor,
) -> dict[str, Any]:
    """The ledger's ``gate_verdict`` body: recorded whether the gate passed or blocked. ``applied`` names the
    real-fraction floor the gate enforced and where it came from (params.yaml, or a safe-zone certificate)."""
    return {
        "run": run_uuid,
        "generation": generation,
        "verdict": verdict.status,
        "failures": [str(f) for f in verdict.failures],
        "anchor_observed": anchor_observed.to_dict(),
        "mixture": summary.to_dict(),
        "mlflow_run_id": mlflow_run_id,
        "applied": {
            "parameters": {"min_real_fraction": floor.value},
            "sources": {"min_real_fraction": floor.source or FROM_PARAMS},
        },
    }


def generation_entry(
    *,
    run_uuid: str,
    generation: int,
    model_id: str,
    model_class: str,
    model_path: str,
    parent_model_id: str,
    anchor: AnchorRecord,
    summary: MixtureSummary,
    mixture_file: str,
    mixture_digest: str,
    curation: CurationReport | None,
    metrics: dict[str, float],
    dvc_md5: str,
    mlflow_run_id: str,
) -> dict[str, Any]:
    """The ledger's ``generation_recorded`` body: what this model was trained on, and from which parent."""
    return {
        "run": run_uuid,
        "generation": generation,
        "model_id": model_id,
        "model_class": model_class,
        "model_path": model_path,
        "parent_model_id": parent_model_id,
        "anchor": anchor.to_dict(),
        "mixture": {**summary.to_dict(), "file": mixture_file, "digest": mixture_digest},
        "curation": curation.to_dict() if curation else None,
        "metrics": metrics,
        "dvc_md5": dvc_md5,
        "mlflow_run_id": mlflow_run_id,
    }


def blocked_outcome(
    generation: int, summary: MixtureSummary, anchor_rows: int, verdict: GateVerdict, mlflow_run_id: str
) -> GenerationOutcome:
    return GenerationOutcome(
        generation=generation,
        status="blocked",
        policy=summary.policy,
        real_fraction=summary.real_fraction,
        anchor_rows=anchor_rows,
        counts=counts(summary, None),
        gate={"passed": False, "failures": [str(f) for f in verdict.failures]},
        mlflow_run_id=mlflow_run_id,
    )


def recorded_outcome(
    generation: int,
    summary: MixtureSummary,
    anchor_rows: int,
    curation: CurationReport | None,
    metrics: dict[str, float],
    *,
    mlflow_run_id: str,
    model_id: str,
    drift_report: str,
) -> GenerationOutcome:
    return GenerationOutcome(
        generation=generation,
        status="recorded",
        policy=summary.policy,
        real_fraction=summary.real_fraction,
        anchor_rows=anchor_rows,
        counts=counts(summary, curation),
        gate={"passed": True, "failures": []},
        metrics=metrics,
        mlflow_run_id=mlflow_run_id,
        model_id=model_id,
        drift_report=drift_report,
    )


def run_reports(outcomes: list[GenerationOutcome]) -> dict[str, dict]:
    """The files DVC reads after a run (dvc.yaml ``outs`` and ``metrics``), by name."""
    reports: dict[str, dict] = {
        "last_run.json": {"status": "completed", "generations": [o.to_dict() for o in outcomes]}
    }
    if outcomes:
        last = outcomes[-1]
        reports["latest_metrics.json"] = {
            "generation": last.generation,
            **last.metrics,
            "real_fraction": last.real_fraction,
        }
    return reports
