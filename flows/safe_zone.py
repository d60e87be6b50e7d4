"""The certified safe real fraction: an adaptive search over fixed-ratio chains → table, figure, MLflow, ledger."""

from prefect import flow

from collapse_guard.config import Params
from collapse_guard.modality.registry import modality_for
from collapse_guard.pipeline import safe_zone
from collapse_guard.records.gate_floor import certified_anchor
from collapse_guard.records.workspace import relative
from collapse_guard.tasks.experiment import load_anchor_split
from collapse_guard.tasks.safe_zone import certify, draw_safe_zone, log_safe_zone, probe_chain, save_safe_zone


@flow(name="safe-zone", validate_parameters=False)
def safe_zone_search(params: Params) -> dict:
    """Search r* on the workspace's anchor and model (``experiment.workers`` chains at a time), publish the
    table and figure, log to MLflow and, when a fraction was certified, append ``safe_fraction_certified``."""
    settings = safe_zone.search_params(params)
    modality = modality_for(settings)
    anchor = load_anchor_split(settings)

    def runner(fraction: float, seeds: list[int]) -> list[safe_zone.ChainOutcome]:
        futures = [probe_chain.submit(settings, anchor, modality, fraction, seed) for seed in seeds]
        return [future.result() for future in futures]

    zone = safe_zone.search(runner, params.experiment.safe_zone, modality.headline, batch=params.experiment.workers)
    tables = save_safe_zone(params, zone)
    figure = draw_safe_zone(params, zone)
    run_id = log_safe_zone(params, zone, [*tables.values(), figure], anchor)
    entry = None
    if zone.certified:
        body = safe_zone.certificate_body(
            zone,
            anchor=certified_anchor(params, anchor.record),
            model_class=params.model.class_path,
            model_options=params.model.options,
            modality=modality.name,
            synthetic_per_generation=params.generation.synthetic_per_generation,
            decoding=params.decoding.model_dump(),
            mlflow_run_id=run_id,
            figure=relative(params, figure),
        )
        entry = certify(params, modality, zone, body)
    return {
        "zone": zone,
        "tables": tables,
        "figure": figure,
        "mlflow_run_id": run_id,
        "ledger_line": entry["seq"] if entry else None,
    }
