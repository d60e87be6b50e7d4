from pathlib import Path

from collapse_guard.config import MixingParams
from collapse_guard.pipeline import step
from collapse_guard.pipeline.handles import Batch, GenerationContext, MixtureHandle
from collapse_guard.pipeline.mixing import FILE_COLUMN, policy_named, summarise
from collapse_guard.records import atomic
from collapse_guard.records.anchor import ids_digest, read_records
from collapse_guard.records.provenance import RECORD_ID
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("mix", says=lambda mixture: mixture.describe())
def mix(ctx: GenerationContext, mixing: MixingParams, earlier: list[Path], batch: Batch | None) -> MixtureHandle:
    """The training mixture of the anchor's train split, the ``earlier`` generations' synthetic batches and
    this generation's ``batch``; every row says which file it came from, so the gate can name it."""
    pools = [read_records(path).assign(**{FILE_COLUMN: ctx.relative(path)}) for path in earlier]
    if batch is not None:
        pools.append(batch.frame.assign(**{FILE_COLUMN: ctx.relative(batch.path)}))
    policy = policy_named(mixing)
    mixture = step.mix(
        policy,
        ctx.modality,
        ctx.anchor.train.assign(**{FILE_COLUMN: ctx.anchor_file}),
        pools,
        generation=ctx.generation,
        seeds=ctx.seeds,
        history=ctx.state.history,
        previous_target=ctx.state.last_target,
    )
    atomic.write_parquet(ctx.paths.mixture, mixture.frame)
    summary = summarise(mixture, policy.name)
    return MixtureHandle(ctx.paths.mixture, summary, ids_digest(mixture.frame[RECORD_ID]), mixture.frame)
