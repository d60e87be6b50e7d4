from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard import anchor, atomic
from collapse_guard.config import Params
from collapse_guard.curation import CurationReport
from collapse_guard.modality import modality_for
from collapse_guard.models import load_generator
from collapse_guard.workspace import PipelineState, generation_paths


@task(name="generate-and-curate", cache_policy=NO_CACHE)
def generate_and_curate(params: Params, state: PipelineState, generation: int, run_id: str) -> CurationReport:
    """Sample from the previous generation's model, stamp provenance, drop what must not be trained on."""
    model = load_generator(state.model_class, state.model_path)
    kept, report = modality_for(params).synthesize(
        model,
        params.generation.synthetic_per_generation,
        params.decoding,
        _seed(params, generation),
        anchor.load(params.anchor_path),
        generation=generation,
        model_id=state.model_id,
        run_id=run_id,
    )
    atomic.write_parquet(generation_paths(params, generation).synthetic, kept)
    return report


def _seed(params: Params, generation: int) -> int:
    return params.run.seed * 1_000 + generation
