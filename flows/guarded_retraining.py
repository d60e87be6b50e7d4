"""generate → curate → mix → gate → train → evaluate → record, once per generation.

Each step is a task that takes what the one before it returned; reading the flow is reading the data
graph of a generation (docs/architecture.md draws it).
"""

from collections.abc import Callable

from prefect import flow

from collapse_guard.config import Params
from collapse_guard.errors import CollapseGuardError
from collapse_guard.flows.remote_training import deploy_training
from collapse_guard.modality.base import Modality
from collapse_guard.modality.registry import modality_for
from collapse_guard.pipeline.outcome import GenerationOutcome, RunContext
from collapse_guard.records.gate_floor import AppliedFloor, resolve, with_floor
from collapse_guard.records.workspace import synthetic_batches
from collapse_guard.tasks.alerts import alert_metric_floors
from collapse_guard.tasks.artifacts import publish_run_summary
from collapse_guard.tasks.bookkeeping import close_run, open_generation, open_run
from collapse_guard.tasks.cluster import DaskMetrics
from collapse_guard.tasks.evaluate import evaluate_model
from collapse_guard.tasks.forecast import forecast_collapse
from collapse_guard.tasks.gate import gate_mixture, record_gate_verdict
from collapse_guard.tasks.generate import generate_and_curate
from collapse_guard.tasks.mix import mix
from collapse_guard.tasks.prepare import prepare_generation, read_state
from collapse_guard.tasks.promote import decide_promotion, record_promotion
from collapse_guard.tasks.record import publish_generation, record_generation, version_outputs
from collapse_guard.tasks.record_hashing import record_hashing
from collapse_guard.tasks.reports import write_reports
from collapse_guard.tasks.train import train
from collapse_guard.tasks.trust import sign_generation, verify_inputs


@flow(name="guarded-generation", flow_run_name="generation-{generation}", validate_parameters=False)
def guarded_generation(
    params: Params, modality: Modality, run: RunContext, generation: int, floor: AppliedFloor
) -> GenerationOutcome:
    state = read_state(params)
    verify_inputs(params, state)
    mlflow_run_id = open_generation(params.tracking_uri, run, generation)
    ctx = prepare_generation(params, modality, run, state, generation, mlflow_run_id)
    hashing = record_hashing(modality)  # None if it hashes none; a cluster only for a batch big enough to need one
    batch = (
        generate_and_curate(ctx, params.generation.synthetic_per_generation, params.decoding, hashing)
        if generation
        else None
    )
    mixture = mix(ctx, params.mixing, synthetic_batches(params, generation), batch)
    verdict = gate_mixture(ctx, mixture, floor, params.resolve(params.paths.expectations_dir), params.mixing)
    record_gate_verdict(params, ctx, mixture, verdict, floor)  # a blocked mixture stops the generation here (exit 4)
    model = train(ctx, mixture, verdict, params.model, params.training)  # here, or on training.work_pool
    measured = evaluate_model(ctx, model, DaskMetrics.of(params.evaluation))  # on Dask only when big
    sign_generation(params, ctx, batch, mixture, model)
    published = publish_generation(ctx)
    md5 = version_outputs(ctx, published, params.anchor_path, params.tracking)
    return record_generation(params, ctx, published, md5, batch, mixture, model, measured)


@flow(name="guarded-retraining", validate_parameters=False)
def guarded_retraining(
    params: Params,
    generations: int,
    on_generation: Callable[[GenerationOutcome], None] | None = None,
) -> list[GenerationOutcome]:
    """Run ``generations`` guarded generations after the last recorded one (generation 0 first on a
    fresh workspace: the model trained on real data only).

    The gate's floor is resolved first (``gate.min_real_fraction: auto`` refuses here, before anything is
    written, when no certificate fits the anchor and model): every generation applies that one value."""
    floor = resolve(params)
    params = with_floor(params, floor)
    modality = modality_for(params)
    if params.training.work_pool:  # the train step runs as a deployment on that pool: registered (or updated) now
        deploy_training(params.training)
    start = read_state(params).next_generation
    last = start + generations - (0 if start == 0 else 1)
    run = open_run(params, modality, generations)
    outcomes: list[GenerationOutcome] = []
    try:
        for generation in range(start, last + 1):
            outcomes.append(guarded_generation(params, modality, run, generation, floor))
            alert_metric_floors(params, outcomes[-1])
            forecast_collapse(params, outcomes[-1])
            record_promotion(params, outcomes[-1], decide_promotion(params, modality, outcomes[-1]))
            if on_generation:
                on_generation(outcomes[-1])
    except CollapseGuardError as error:
        publish_run_summary("blocked", outcomes, str(error))
        close_run(params, run, "blocked", [o.generation for o in outcomes], str(error))
        raise
    write_reports(params.resolve(params.paths.reports_dir), outcomes, params.ledger_path)
    publish_run_summary("completed", outcomes)
    close_run(params, run, "completed", [o.generation for o in outcomes])
    return outcomes
