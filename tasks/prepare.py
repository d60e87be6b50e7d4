"""Where a generation starts: the ledger's state and the anchor, each read once."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.config import Params
from collapse_guard.modality.base import Modality
from collapse_guard.pipeline.handles import GenerationContext
from collapse_guard.pipeline.outcome import RunContext
from collapse_guard.pipeline.step import SeedSchedule
from collapse_guard.records.anchor import load_split
from collapse_guard.records.staging import staging_paths
from collapse_guard.records.workspace import PipelineState, generation_paths, pipeline_state, relative


@task(name="read-state", cache_policy=NO_CACHE)
def read_state(params: Params) -> PipelineState:
    """Where the pipeline stands, from the (verified) ledger."""
    return pipeline_state(params)


@task(name="prepare-generation", cache_policy=NO_CACHE)
def prepare_generation(
    params: Params, modality: Modality, run: RunContext, state: PipelineState, generation: int, mlflow_run_id: str
) -> GenerationContext:
    """Read and split the anchor once; every later step of this generation uses this context. The steps write
    into a staging folder of this run, published whole by ``publish_generation``."""
    return GenerationContext(
        generation=generation,
        workspace=params.workspace,
        run=run,
        mlflow_run_id=mlflow_run_id,
        state=state,
        paths=staging_paths(params, generation, run.run_uuid),
        final_paths=generation_paths(params, generation),
        anchor=load_split(params.anchor_path, params.data.holdout_fraction),
        anchor_file=relative(params, params.anchor_path),
        modality=modality,
        seeds=SeedSchedule(params.run.seed),
    )
