from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard import anchor, atomic
from collapse_guard.config import Params
from collapse_guard.modality import modality_for
from collapse_guard.models import load_generator
from collapse_guard.provenance import feature_columns
from collapse_guard.workspace import generation_paths


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_model(params: Params, generation: int) -> dict[str, float]:
    """Collapse metrics against held-out real data, and an Evidently drift report against the anchor."""
    paths = generation_paths(params, generation)
    train_part, held_out = anchor.split(anchor.load(params.anchor_path), params.data.holdout_fraction)
    features = feature_columns(train_part)
    modality = modality_for(params)
    model = load_generator(params.model.class_path, paths.model)
    evaluate = modality.evaluator(train_part[features], held_out[features], params.decoding)
    result, samples = evaluate(model, params.run.seed * 1_000 + generation + 500)
    drift = modality.drift(samples, train_part[features], paths.drift_html)
    metrics = {**result.to_dict(), "drift_share": drift.drift_share}
    atomic.write_json(paths.metrics, {**metrics, **drift.to_dict()})
    return metrics
