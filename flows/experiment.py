"""policies × generations × seeds (and the safe-zone sweep) → results table, figures, MLflow."""

from collections.abc import Callable

from prefect import flow, unmapped
from prefect.futures import as_completed

from collapse_guard.config import Params
from collapse_guard.modality.registry import modality_for
from collapse_guard.pipeline.experiment import plan
from collapse_guard.records.gate_floor import resolve, with_floor
from collapse_guard.tasks.experiment import draw_figures, load_anchor_split, log_experiment, save_results, simulate


@flow(name="collapse-experiment", validate_parameters=False)
def collapse_experiment(
    params: Params, sweep: bool = True, on_chain_done: Callable[[int, int], None] | None = None
) -> dict:
    """Run every chain (mapped tasks, in parallel as the task runner allows) and publish the results.

    Chains are marked ``gate_blocked`` against the gate's floor as a run would resolve it (``auto`` without a
    valid certificate marks nothing: an experiment enforces nothing)."""
    params = with_floor(params, resolve(params, strict=False))
    modality = modality_for(params)
    anchor = load_anchor_split(params)
    specs = plan(params.experiment, sweep=sweep)
    futures = simulate.map(specs, unmapped(anchor), unmapped(modality), unmapped(params))
    results = []
    for future in as_completed(futures):
        results.append(future.result())
        if on_chain_done:
            on_chain_done(len(results), len(specs))
    tables = save_results(params, results, modality.headline[0])
    drawn = draw_figures(params, results, anchor, modality)
    run_id = log_experiment(params, results, [*tables.values(), *drawn])
    return {"tables": tables, "figures": drawn, "mlflow_run_id": run_id, "chains": len(results)}
