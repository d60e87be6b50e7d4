from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.config import Params
from collapse_guard.workspace import PipelineState, pipeline_state


@task(name="read-state", cache_policy=NO_CACHE)
def read_state(params: Params) -> PipelineState:
    """Where the pipeline stands, from the (verified) ledger."""
    return pipeline_state(params)
