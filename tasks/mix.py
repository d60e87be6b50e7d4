from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard import anchor, atomic
from collapse_guard.config import Params
from collapse_guard.mixing import FILE_COLUMN, MixtureSummary, policy_named, summarise
from collapse_guard.workspace import generation_paths, relative


@task(name="mix", cache_policy=NO_CACHE)
def mix(params: Params, generation: int) -> MixtureSummary:
    """Build the training mixture of ``generation`` from the anchor's train split and the synthetic pools."""
    train, _ = anchor.split(anchor.load(params.anchor_path), params.data.holdout_fraction)
    train[FILE_COLUMN] = relative(params, params.anchor_path)
    pools = []
    for earlier in range(1, generation + 1):
        path = generation_paths(params, earlier).synthetic
        pool = anchor.read_records(path)
        pool[FILE_COLUMN] = relative(params, path)
        pools.append(pool)
    policy = policy_named(params.mixing.policy)
    mixture = policy.mix(train, pools)
    atomic.write_parquet(generation_paths(params, generation).mixture, mixture)
    return summarise(mixture, policy.name)
