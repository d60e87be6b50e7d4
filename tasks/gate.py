"""The gate: validate the mixture (one task), then write what it decided (another), so the flow shows where
the verdict is decided and where it is recorded."""

from pathlib import Path

from collapse_guard.config import MixingParams, Params
from collapse_guard.errors import GateBlocked
from collapse_guard.pipeline import binding, data_docs, gate, payloads
from collapse_guard.pipeline.handles import GenerationContext, MixtureHandle
from collapse_guard.pipeline.mixing import anchor_share_floor
from collapse_guard.records import atomic, ledger, staging, tracking
from collapse_guard.records.gate_floor import AppliedFloor
from collapse_guard.records.provenance import RECORD_ID
from collapse_guard.tasks.artifacts import publish_gate_table
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("gate", says=lambda verdict: verdict.describe())
def gate_mixture(
    ctx: GenerationContext,
    mixture: MixtureHandle,
    floor: AppliedFloor,
    expectations_dir: Path,
    mixing: MixingParams,
) -> gate.GateVerdict:
    """Validate the mixture and the anchor against the suites in expectations/ (nothing is written here).
    ``floor``: the real-fraction floor resolved when the run started (collapse_guard/records/gate_floor.py)."""
    modality = ctx.modality
    return gate.evaluate(
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
        held_out=ctx.anchor.frame[RECORD_ID].isin(ctx.anchor.held_out[RECORD_ID]).to_numpy(),
        min_anchor_share=anchor_share_floor(mixing),
    )


@pipeline_step("record-gate-verdict", says=lambda verdict: f"{verdict.status}, in the ledger and MLflow")
def record_gate_verdict(
    params: Params, ctx: GenerationContext, mixture: MixtureHandle, verdict: gate.GateVerdict, floor: AppliedFloor
) -> gate.GateVerdict:
    """The verdict's records: gate.json beside the mixture, MLflow, the ledger and a Prefect table. A blocked
    mixture is published with its gate.json (where the message and the ledger say it is), its MLflow run marked
    failed, and the generation stops here with GateBlocked (exit 4): nothing is trained on it."""
    atomic.write_json(ctx.paths.gate, {**verdict.to_dict(), "results": verdict.results})
    data_docs.write_validation_page(ctx.paths.gate_html, verdict.results, f"gate verdict, generation {ctx.generation}")
    uri = params.tracking_uri
    tracking.log(
        uri,
        ctx.mlflow_run_id,
        tags={"gate": verdict.status},
        metrics={"gate_failures": len(verdict.failures)},
        step=ctx.generation,
        artifacts=[ctx.paths.gate, ctx.paths.gate_html],
    )
    entry = payloads.gate_entry(
        run_uuid=ctx.run.run_uuid,
        generation=ctx.generation,
        verdict=verdict,
        anchor_observed=ctx.anchor.record,
        summary=mixture.summary,
        mlflow_run_id=ctx.mlflow_run_id,
        # the floor's source: params.yaml, or the safe-zone certificate it was resolved from
        sources={**gate.CORE_SOURCES, **ctx.modality.gate_parameter_sources(), "min_real_fraction": floor.source},
        mixture_digest=mixture.digest,
    )
    if not verdict.passed:
        staging.publish(ctx.paths.dir, ctx.published.dir)
    ledger.append(params.ledger_path, "gate_verdict", entry)
    publish_gate_table(ctx.generation, verdict)
    if verdict.passed:
        return verdict
    tracking.log(uri, ctx.run.mlflow_parent_run_id, tags={"gate": "blocked"})
    tracking.finish(uri, ctx.mlflow_run_id, "FAILED")
    blocked = payloads.blocked_outcome(
        ctx.generation, mixture.summary, ctx.anchor.record.rows, verdict, ctx.mlflow_run_id
    )
    raise GateBlocked(
        f"gate blocked generation {ctx.generation} before training: {len(verdict.failures)} expectation(s) failed",
        failures=blocked.gate["failures"],
        outcome=blocked.to_dict(),
        path=ctx.relative(ctx.paths.gate),
    )


def generation_paths_upto(ctx: GenerationContext) -> list[Path]:
    """The synthetic batch of every generation from 1 to this one (the earlier ones published and verified
    before use, this one still in its staging folder)."""
    generations_dir = ctx.published.dir.parent
    earlier = [generations_dir / f"gen_{g:03d}" / ctx.paths.synthetic.name for g in range(1, ctx.generation)]
    return earlier + ([ctx.paths.synthetic] if ctx.generation >= 1 else [])
