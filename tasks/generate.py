from collapse_guard.config import DecodingParams
from collapse_guard.generator import load_generator
from collapse_guard.pipeline import step
from collapse_guard.pipeline.handles import Batch, GenerationContext
from collapse_guard.records import atomic
from collapse_guard.tasks.record_hashing import RecordHashing
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("generate-and-curate", says=lambda batch: batch.describe())
def generate_and_curate(
    ctx: GenerationContext, n: int, decoding: DecodingParams, hashing: RecordHashing | None = None
) -> Batch:
    """Sample from the previous generation's model, stamp provenance, drop what must not be trained on.
    ``hashing``: the modality's per-record hashing of curation, on Dask when the batch is big enough
    (collapse_guard.tasks.record_hashing); None: in this process."""
    state = ctx.state
    kept, report = step.synthesize(
        ctx.modality,
        load_generator(state.model_class, state.model_path),
        n,
        decoding,
        ctx.anchor,
        generation=ctx.generation,
        seeds=ctx.seeds,
        model_id=state.model_id,
        run_id=ctx.mlflow_run_id,
        hasher=hashing,
    )
    atomic.write_parquet(ctx.paths.synthetic, kept)
    return Batch(ctx.paths.synthetic, report, kept)
