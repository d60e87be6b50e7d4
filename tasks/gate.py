from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from collapse_guard import anchor, atomic, gate, ledger, tracking
from collapse_guard.anchor import AnchorRecord
from collapse_guard.config import Params
from collapse_guard.errors import GateBlocked
from collapse_guard.mixing import MixtureSummary
from collapse_guard.modality import modality_for
from collapse_guard.outcome import GenerationOutcome, RunContext
from collapse_guard.workspace import generation_paths, relative


@task(name="gate", cache_policy=NO_CACHE)
def gate_mixture(
    params: Params,
    run: RunContext,
    mlflow_run_id: str,
    generation: int,
    recorded_anchor: AnchorRecord | None,
    summary: MixtureSummary,
) -> gate.GateVerdict:
    """Validate the mixture and the anchor against the suites in expectations/; raise GateBlocked on failure."""
    paths = generation_paths(params, generation)
    current_anchor = anchor.load(params.anchor_path)
    modality = modality_for(params)
    verdict = gate.evaluate(
        anchor=current_anchor,
        mixture=anchor.read_records(paths.mixture),
        recorded_anchor=recorded_anchor,
        min_real_fraction=params.gate.min_real_fraction,
        expectations_dir=params.resolve(params.paths.expectations_dir),
        anchor_path=relative(params, params.anchor_path),
        modality=modality.name,
        extra_flags=modality.gate_flags(current_anchor),
        extra_parameters=modality.gate_parameters(),
    )
    atomic.write_json(paths.gate, {**verdict.to_dict(), "results": verdict.results})
    status = "passed" if verdict.passed else "blocked"
    tracking.log(
        params.tracking_uri,
        mlflow_run_id,
        tags={"gate": status},
        metrics={"gate_failures": len(verdict.failures)},
        step=generation,
        artifacts=[paths.gate],
    )
    ledger.append(
        params.ledger_path,
        "gate_verdict",
        {
            "run": run.run_uuid,
            "generation": generation,
            "verdict": status,
            "failures": [str(f) for f in verdict.failures],
            "anchor_observed": anchor.describe(current_anchor).to_dict(),
            "mixture": summary.to_dict(),
            "mlflow_run_id": mlflow_run_id,
        },
    )
    if not verdict.passed:
        tracking.log(params.tracking_uri, run.mlflow_parent_run_id, tags={"gate": "blocked"})
        tracking.finish(params.tracking_uri, mlflow_run_id, "FAILED")
        logger = get_run_logger()
        for failure in verdict.failures:
            logger.error("gate: %s", failure)
        failures = [str(f) for f in verdict.failures]
        blocked = GenerationOutcome(
            generation=generation,
            status="blocked",
            policy=summary.policy,
            real_fraction=summary.real_fraction,
            anchor_rows=len(current_anchor),
            counts={"mixture_rows": summary.rows, "real": summary.real, "synthetic": summary.synthetic},
            gate={"passed": False, "failures": failures},
            mlflow_run_id=mlflow_run_id,
        )
        raise GateBlocked(
            f"gate blocked generation {generation} before training: {len(failures)} expectation(s) failed",
            failures=failures,
            outcome=blocked.to_dict(),
            path=relative(params, paths.gate),
        )
    return verdict
