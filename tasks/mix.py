import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard import anchor, atomic
from collapse_guard.config import Params
from collapse_guard.mixing import FILE_COLUMN, MixContext, MixtureSummary, policy_named, summarise
from collapse_guard.workspace import PipelineState, generation_paths, relative


@task(name="mix", cache_policy=NO_CACHE)
def mix(params: Params, state: PipelineState, generation: int) -> MixtureSummary:
    """Build the training mixture of ``generation`` from the anchor's train split and the synthetic pools."""
    train, _ = anchor.split(anchor.load(params.anchor_path), params.data.holdout_fraction)
    train[FILE_COLUMN] = relative(params, params.anchor_path)
    pools = []
    for earlier in range(1, generation + 1):
        path = generation_paths(params, earlier).synthetic
        pool = anchor.read_records(path)
        pool[FILE_COLUMN] = relative(params, path)
        pools.append(pool)
    policy = policy_named(params.mixing)
    context = MixContext(
        rng=np.random.default_rng(params.run.seed * 1_000 + generation + 250),
        history=list(state.history),
        previous_target=state.last_target,
    )
    mixture = policy.mix(train, pools, context)
    atomic.write_parquet(generation_paths(params, generation).mixture, mixture.frame)
    return summarise(mixture, policy.name)
