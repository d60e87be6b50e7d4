import uuid

from collapse_guard.config import ModelParams, TrainingParams
from collapse_guard.errors import ServiceUnavailable
from collapse_guard.generator import load_generator
from collapse_guard.pipeline import exchange, step
from collapse_guard.pipeline.gate import GateVerdict
from collapse_guard.pipeline.handles import GenerationContext, MixtureHandle, TrainedModel
from collapse_guard.records.versioning import file_md5
from collapse_guard.tasks.steps import pipeline_step

IN_PROCESS = TrainingParams()


@pipeline_step("train", says=lambda model: model.describe())
def train(
    ctx: GenerationContext,
    mixture: MixtureHandle,
    verdict: GateVerdict,
    model: ModelParams,
    training: TrainingParams = IN_PROCESS,
) -> TrainedModel:
    """Fit a fresh model on the mixture the gate passed (``verdict`` makes the order a data dependency): in this
    process, or on ``training.work_pool`` through the training deployment (flows/remote_training.py), the model
    coming back verified by its SHA-256."""
    if not verdict.passed:  # the gate raises first; a blocked verdict must never reach training
        raise RuntimeError(f"generation {ctx.generation}: refusing to train on a mixture the gate blocked")
    if training.work_pool:
        trained_on_pool(ctx, mixture, model, training)
        generator = load_generator(model.class_path, ctx.paths.model)
    else:
        generator = step.train(model, mixture.frame, generation=ctx.generation, seeds=ctx.seeds)
        generator.save(ctx.paths.model)
    return TrainedModel(ctx.paths.model, f"gen{ctx.generation:03d}-{file_md5(ctx.paths.model)[:12]}", generator)


def trained_on_pool(ctx: GenerationContext, mixture: MixtureHandle, model: ModelParams, training: TrainingParams):
    """Hand the mixture over by its digest, run the training deployment (Prefect's ``run_deployment``, a subflow
    of this generation) and take the model it names back into the generation's folder, verified."""
    from prefect.deployments import run_deployment

    folder = ctx.workspace / training.exchange  # an absolute exchange (a shared mount) stays as it is
    mixture_sha256 = exchange.put(folder, exchange.MIXTURES, mixture.path, exchange.MIXTURE_SUFFIX)
    request = f"gen{ctx.generation:03d}-{uuid.uuid4().hex[:12]}"
    name = exchange.deployment_name(training.deployment)
    flow_run = run_deployment(
        name,
        parameters={
            "exchange_dir": str(folder),
            "mixture_sha256": mixture_sha256,
            "model": model.model_dump(by_alias=True),
            "base_seed": ctx.seeds.base,
            "generation": ctx.generation,
            "request": request,
        },
        timeout=training.timeout_seconds,
        poll_interval=2,
        tags=["collapse-guard"],
    )
    state = flow_run.state
    if state is None or not state.is_final():
        _cancel(flow_run.id)
        raise ServiceUnavailable(
            f"the training deployment {name} did not finish within training.timeout_seconds "
            f"({training.timeout_seconds:g} s; state {state.name if state else 'unknown'}): is a worker polling the "
            f"work pool {training.work_pool!r}? (`prefect worker start --pool {training.work_pool}`). The run was "
            "cancelled; nothing was trained on"
        )
    if not state.is_completed():
        raise ServiceUnavailable(
            f"the training deployment {name} ended {state.name} on the work pool {training.work_pool!r}: "
            f"{state.message or 'no message'} (its logs are in the Prefect UI, flow run {flow_run.name})"
        )
    receipt = exchange.read_receipt(folder, request)
    return exchange.take(folder, exchange.MODELS, receipt["model_sha256"], exchange.MODEL_SUFFIX, ctx.paths.model)


def _cancel(flow_run_id) -> None:
    """Cancel a training run that outlived its timeout, so no worker picks it up later (best effort)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run_id, Cancelled(message="training.timeout_seconds passed"), force=True)
    except Exception:  # the API being down is what the caller is about to report
        return
