"""generate → curate → mix → gate → train → evaluate → record, once per generation."""

from collections.abc import Callable

from prefect import flow

from collapse_guard.config import Params
from collapse_guard.errors import CollapseGuardError
from collapse_guard.outcome import GenerationOutcome, RunContext
from tasks.bookkeeping import close_run, open_generation, open_run
from tasks.evaluate import evaluate_model
from tasks.gate import gate_mixture
from tasks.generate import generate_and_curate
from tasks.mix import mix
from tasks.record import record_generation
from tasks.state import read_state
from tasks.train import train


@flow(name="guarded-generation", flow_run_name="generation-{generation}", validate_parameters=False)
def guarded_generation(params: Params, run: RunContext, generation: int) -> GenerationOutcome:
    state = read_state(params)
    mlflow_run_id = open_generation(params, run, generation)
    curation = generate_and_curate(params, state, generation, mlflow_run_id) if generation > 0 else None
    summary = mix(params, state, generation)
    gate_mixture(params, run, mlflow_run_id, generation, state.recorded_anchor, summary)
    model_id = train(params, generation)
    metrics = evaluate_model(params, generation)
    return record_generation(params, run, mlflow_run_id, generation, state, curation, summary, model_id, metrics)


@flow(name="guarded-retraining", validate_parameters=False)
def guarded_retraining(
    params: Params,
    generations: int,
    on_generation: Callable[[GenerationOutcome], None] | None = None,
) -> list[GenerationOutcome]:
    """Run ``generations`` guarded generations after the last recorded one (generation 0 first on a
    fresh workspace: the model trained on real data only)."""
    start = read_state(params).next_generation
    last = start + generations - (0 if start == 0 else 1)
    run = open_run(params, generations)
    outcomes: list[GenerationOutcome] = []
    try:
        for generation in range(start, last + 1):
            outcomes.append(guarded_generation(params, run, generation))
            if on_generation:
                on_generation(outcomes[-1])
    except CollapseGuardError as error:
        close_run(params, run, "blocked", [o.generation for o in outcomes], str(error))
        error.outcomes = outcomes
        raise
    close_run(params, run, "completed", [o.generation for o in outcomes])
    return outcomes
