"""What the record-keeping writes: ledger entry bodies, MLflow metrics and params, and the run's outcomes.

These are domain decisions (what an auditor can later ask the ledger), so they are plain functions with
unit tests; the tasks only send them to the ledger, MLflow and the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collapse_guard.modality.base import CurationReport
from collapse_guard.pipeline.gate import GateVerdict
from collapse_guard.pipeline.mixing import MixtureSummary
from collapse_guard.pipeline.outcome import GenerationOutcome
from collapse_guard.pipeline.promotion import Decision
from collapse_guard.records.anchor import AnchorRecord

UNNAMED_SOURCE = "(source not named)"


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


def applied(parameters: Mapping[str, Any], sources: Mapping[str, str], suites: Mapping[str, str]) -> dict[str, Any]:
    """What a verdict applied, as its ledger entry records it: every ``$PARAMETER`` value it filled, where each
    came from (a parameter nobody named a source for says so), and the SHA-256 of each suite file it ran.

    A reviewer reads a verdict's thresholds from here, never from today's params.yaml, which may have changed
    since."""
    return {
        "parameters": {name: _plain(value) for name, value in parameters.items()},
        "sources": {name: sources.get(name, UNNAMED_SOURCE) for name in parameters},
        "suites": dict(suites),
    }


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars become Python numbers, tuples lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def gate_entry(
    *,
    run_uuid: str,
    generation: int,
    verdict: GateVerdict,
    anchor_observed: AnchorRecord,
    summary: MixtureSummary,
    mlflow_run_id: str,
    sources: Mapping[str, str],
    mixture_digest: str = "",
) -> dict[str, Any]:
    """The ledger's ``gate_verdict`` body: recorded whether the gate passed or blocked, with what it applied
    (``sources``: where each ``$PARAMETER`` value came from). ``mixture_digest`` is the mixture's records digest
    (collapse_guard.records.anchor.ids_digest), by which ``record-model`` finds a mixture that passed."""
    return {
        "run": run_uuid,
        "generation": generation,
        "verdict": verdict.status,
        "failures": [str(f) for f in verdict.failures],
        "anchor_observed": anchor_observed.to_dict(),
        "mixture": {**summary.to_dict(), **({"digest": mixture_digest} if mixture_digest else {})},
        "mlflow_run_id": mlflow_run_id,
        "applied": applied(verdict.parameters, sources, verdict.suites),
    }


def promotion_entry(
    *,
    generation: int,
    model_id: str,
    registered_model: str,
    version: str,
    decision: Decision,
    champion_before: str | None,
    sources: Mapping[str, str],
) -> tuple[str, dict[str, Any]]:
    """The ledger's promotion verdict: its kind (``model_promoted`` / ``promotion_refused``) and body, with the
    tolerances and suite it applied (none when there was no champion to compare with)."""
    kind = "model_promoted" if decision.promote else "promotion_refused"
    return kind, {
        "generation": generation,
        "model_id": model_id,
        "registered_model": registered_model,
        "version": version,
        "role": decision.role,
        "reasons": decision.reasons,
        "champion_before": champion_before,
        "by": "check",
        "applied": applied(decision.parameters, sources, decision.suites),
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
    forecast_settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The ledger's ``generation_recorded`` body: what this model was trained on, and from which parent.
    ``forecast_settings`` (params.yaml ``forecast:`` as this run applied it: floors, ceilings, window...) are the
    ones the collapse forecast after this generation uses, kept so the audit page forecasts with them."""
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
        "forecast_settings": _plain(dict(forecast_settings)),
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


def run_reports(outcomes: list[GenerationOutcome], entries: list[dict] | None = None) -> dict[str, Any]:
    """The files DVC reads after a run (dvc.yaml ``outs``, ``metrics`` and ``plots``), by name; ``entries``: the
    ledger, whose recorded generations make the per-generation series ``dvc plots show`` draws."""
    reports: dict[str, Any] = {
        "last_run.json": {"status": "completed", "generations": [o.to_dict() for o in outcomes]},
        "metrics_by_generation.json": generation_series(entries or []),
    }
    if outcomes:
        last = outcomes[-1]
        reports["latest_metrics.json"] = {
            "generation": last.generation,
            **last.metrics,
            "real_fraction": last.real_fraction,
        }
    return reports


def generation_series(entries: list[dict]) -> list[dict[str, Any]]:
    """One row per recorded generation, oldest first (the last record of a generation wins): its number, the
    mixture's real fraction, the anchor's rows and every numeric metric. A list of flat rows: what DVC plots."""
    rows: dict[int, dict[str, Any]] = {}
    for entry in entries:
        if entry.get("kind") != "generation_recorded":
            continue
        body = entry["body"]
        metrics = {k: v for k, v in (body.get("metrics") or {}).items() if isinstance(v, int | float)}
        rows[body["generation"]] = {
            "generation": body["generation"],
            "real_fraction": body["mixture"]["real_fraction"],
            "anchor_rows": body["anchor"]["rows"],
            **metrics,
        }
    return [rows[g] for g in sorted(rows)]


def gate_table(verdict: GateVerdict) -> list[dict[str, str]]:
    """The gate's verdict as a table (the Prefect UI shows it beside the run): every expectation it ran, passed or
    failed in plain words, then the checks made outside Great Expectations that failed (append-only, binding)."""
    pending: dict[tuple[str, str], list[str]] = {}  # the failures GX's results explain, in the order they failed
    for failure in verdict.failures:
        pending.setdefault((failure.suite, failure.check), []).append(failure.message)
    rows = []
    for suite, result in verdict.results.items():
        for item in result.get("results", []):
            config = item["expectation_config"]
            passed = bool(item["success"])
            waiting = pending.get((suite, config["type"]), [])
            rows.append(
                {
                    "suite": suite,
                    "check": (config.get("meta") or {}).get("description", config["type"]),
                    "result": "passed" if passed else "FAILED",
                    "detail": "" if passed or not waiting else waiting.pop(0),
                }
            )
    for (suite, check), messages in pending.items():
        rows += [{"suite": suite, "check": check, "result": "FAILED", "detail": message} for message in messages]
    return rows


def run_summary_markdown(status: str, outcomes: list[GenerationOutcome], error: str = "") -> str:
    """The run as a short markdown page (the Prefect UI shows it as the flow run's artifact)."""
    lines = [f"# collapse-guard run: {status}", ""]
    if error:
        lines += [f"**Stopped:** {error}", ""]
    if outcomes:
        lines += [
            "| generation | status | real fraction | anchor rows | synthetic | model |",
            "|---|---|---|---|---|---|",
        ]
        for o in outcomes:
            lines.append(
                f"| {o.generation} | {o.status} | {o.real_fraction:.2f} | {o.anchor_rows:,} | "
                f"{o.counts.get('synthetic', 0):,} | {o.model_id or '-'} |"
            )
        lines.append("")
        for o in outcomes:
            for failure in o.gate.get("failures", []):
                lines.append(f"- generation {o.generation}: {failure}")
    return "\n".join(lines).rstrip() + "\n"
