"""Verify what a generation is about to use, and sign what it recorded (collapse_guard.pipeline.trust)."""

from collapse_guard.config import Params
from collapse_guard.errors import AnchorIntegrityError
from collapse_guard.pipeline import trust
from collapse_guard.pipeline.handles import Batch, GenerationContext, MixtureHandle, TrainedModel
from collapse_guard.records import attestation, ledger, tracking
from collapse_guard.records.workspace import PipelineState, relative
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("verify-inputs", says=lambda n: f"anchor, ledger and {n} recorded generation folder(s) verified")
def verify_inputs(params: Params, state: PipelineState) -> int:
    """Before anything is read: the ledger is as long as its witnesses saw, the anchor is its signed version,
    and every recorded generation folder verifies (exit 7, 5 and 3, each naming the file)."""
    trust.check_witnesses(params)
    keys = trust.workspace_keys(params)
    if keys is not None:
        differences = trust.anchor_differences(params, keys)
        if differences:
            raise AnchorIntegrityError(differences, path=relative(params, params.anchor_path))
    return trust.verify_generations(params, state.last_generation)


@pipeline_step("sign", says=lambda signed: "signed" if signed else "unsigned workspace: not signed")
def sign_generation(
    params: Params, ctx: GenerationContext, batch: Batch | None, mixture: MixtureHandle, model: TrainedModel
) -> bool:
    """Sign the generation's folder with its statement; tag the MLflow run with the ledger head it saw."""
    head = ledger.signed_head(params.ledger_path)
    statement = attestation.generation_statement(
        generation=ctx.generation,
        model_id=model.model_id,
        parent_model_id=ctx.state.model_id,
        model_class=params.model.class_path,
        decoding=params.decoding.model_dump(),
        anchor={**ctx.anchor.record.to_dict(), "file": ctx.anchor_file},
        synthetic=batch.frame if batch else None,
        mixture=mixture.frame,
        ledger_head=head,
    )
    signed = trust.sign_generation(params, ctx.paths.dir, statement)
    tracking.log(
        params.tracking_uri,
        ctx.mlflow_run_id,
        tags={"collapse_guard.ledger_head_seq": str(head.seq), "collapse_guard.ledger_head_hash": head.hash},
    )
    return signed
