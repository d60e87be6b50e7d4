from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard import anchor
from collapse_guard.config import Params
from collapse_guard.models import build_generator
from collapse_guard.provenance import feature_columns
from collapse_guard.versioning import file_md5
from collapse_guard.workspace import generation_paths


@task(name="train", cache_policy=NO_CACHE)
def train(params: Params, generation: int) -> str:
    """Fit a fresh model on the gated mixture; returns its model id (generation + content hash)."""
    paths = generation_paths(params, generation)
    mixture = anchor.read_records(paths.mixture)
    model = build_generator(params.model)
    model.fit(mixture[feature_columns(mixture)], seed=params.run.seed * 1_000 + generation)
    model.save(paths.model)
    return f"gen{generation:03d}-{file_md5(paths.model)[:12]}"
