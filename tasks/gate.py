from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from collapse_guard.errors import GateBlocked
from collapse_guard.pipeline import binding, gate, payloads
from collapse_guard.pipeline.handles import GenerationContext, MixtureHandle
from collapse_guard.records import atomic, ledger, staging, tracking
from collapse_guard.records.gate_floor import AppliedFloor
from collapse_guard.records.provenance import RECORD_ID


@task(name="gate", cache_policy=NO_CACHE)
def gate_mixture(
    ctx: GenerationContext,
    mixture: MixtureHandle,
    floor: AppliedFloor,
    expectations_dir: Path,
    ledger_path: Path,
    tracking_uri: str,
) -> gate.GateVerdict:
    """Validate the mixture and the anchor against the suites in expectations/; raise GateBlocked on failure.
    ``floor``: the real-fraction floor resolved when the run started, and where it came from."""
    modality = ctx.modality
    verdict = gate.evaluate(
        anchor=ctx.anchor.frame,
        mixture=mixture.frame,
        recorded_anchor=ctx.state.recorded_anchor,
        min_real_fraction=floor.value,
        expectations_dir=expectations_dir,
        anchor_path=ctx.anchor_file,
        mixture_path=ctx.relative(mixture.path),
        modality=modality.name,
        extra_flags=modality.gate_flags(ctx.anchor),
        extra_parameters=modality.gate_parameters(),
        extra_failures=binding.binding_failures(
            mixture.frame,
            ctx.anchor.frame[RECORD_ID],
            binding.batch_ids(generation_paths_upto(ctx)),
            ctx.anchor_file,
        ),
    )
    atomic.write_json(ctx.paths.gate, {**verdict.to_dict(), "results": verdict.results})
    tracking.log(
        tracking_uri,
        ctx.mlflow_run_id,
        tags={"gate": verdict.status},
        metrics={"gate_failures": len(verdict.failures)},
        step=ctx.generation,
        artifacts=[ctx.paths.gate],
    )
    entry = payloads.gate_entry(
        run_uuid=ctx.run.run_uuid,
        generation=ctx.generation,
        verdict=verdict,
        anchor_observed=ctx.anchor.record,
        summary=mixture.summary,
        mlflow_run_id=ctx.mlflow_run_id,
        floor=floor,
    )
    if not verdict.passed:  # the blocked mixture and its gate.json, visible where the message and ledger say
        staging.publish(ctx.paths.dir, ctx.published.dir)
    ledger.append(ledger_path, "gate_verdict", entry)
    if not verdict.passed:
        tracking.log(tracking_uri, ctx.run.mlflow_parent_run_id, tags={"gate": "blocked"})
        tracking.finish(tracking_uri, ctx.mlflow_run_id, "FAILED")
        logger = get_run_logger()
        for failure in verdict.failures:
            logger.error("gate: %s", failure)
        blocked = payloads.blocked_outcome(
            ctx.generation, mixture.summary, ctx.anchor.record.rows, verdict, ctx.mlflow_run_id
        )
        raise GateBlocked(
            f"gate blocked generation {ctx.generation} before training: {len(verdict.failures)} expectation(s) failed",
            failures=blocked.gate["failures"],
            outcome=blocked.to_dict(),
            path=ctx.relative(ctx.paths.gate),
        )
    return verdict


def generation_paths_upto(ctx: GenerationContext) -> list[Path]:
    """The synthetic batch of every generation from 1 to this one (the earlier ones published and verified
    before use, this one still in its staging folder)."""
    generations_dir = ctx.published.dir.parent
    earlier = [generations_dir / f"gen_{g:03d}" / ctx.paths.synthetic.name for g in range(1, ctx.generation)]
    return earlier + ([ctx.paths.synthetic] if ctx.generation >= 1 else [])
