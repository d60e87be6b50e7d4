"""Train where the GPUs are: the train step as a Prefect deployment on a work pool (``training.work_pool``).

The guarded flow registers this flow as the deployment ``collapse-guard-training/<training.deployment>`` on the
pool (``deploy_training``), puts the gated mixture into the exchange folder under its SHA-256, and starts a run
with Prefect's ``run_deployment`` (tasks/train.py). A worker of the pool (``prefect worker start --pool
<pool>``, on a machine with collapse-guard and the model's code installed and the exchange folder mounted)
runs ``train_on_pool``: it verifies the mixture by its digest, trains exactly as the flow would in its own
process (same seed for the same generation), and hands the model file back by its digest
(collapse_guard/pipeline/exchange.py). The guarded flow verifies the model's digest before it evaluates,
signs and records it.
"""

from pathlib import Path

from prefect import flow

from collapse_guard.config import ModelParams, TrainingParams
from collapse_guard.errors import ConfigError
from collapse_guard.pipeline import exchange


@flow(name=exchange.TRAINING_FLOW, flow_run_name="train-generation-{generation}")
def train_on_pool(
    exchange_dir: str, mixture_sha256: str, model: dict, base_seed: int, generation: int, request: str
) -> str:
    """Train ``model`` (params.yaml's ``model:`` section) on the mixture ``mixture_sha256`` of the exchange folder;
    returns the model file's SHA-256 (also in the receipt ``request``)."""
    return exchange.train_from_exchange(
        Path(exchange_dir), mixture_sha256, ModelParams.model_validate(model), base_seed, generation, request
    )


def deploy_training(training: TrainingParams) -> str:
    """Register (or update) the training deployment on ``training.work_pool``; its id. The flow's code is the
    installed package (a module path), so the workers need collapse-guard installed, not a copy of this repo."""
    from prefect.deployments.runner import EntrypointType

    try:
        deployment_id = train_on_pool.deploy(
            name=training.deployment,
            work_pool_name=training.work_pool,
            entrypoint_type=EntrypointType.MODULE_PATH,
            build=False,
            push=False,
            print_next_steps=False,
            ignore_warnings=True,
            tags=["collapse-guard"],
        )
    except ValueError as exc:  # Prefect's word for "no such work pool"
        raise ConfigError(
            f"cannot deploy the training flow on the work pool {training.work_pool!r} ({exc}). Create it "
            f"(`prefect work-pool create {training.work_pool} --type process`) and start a worker on the machine "
            f"that trains (`prefect worker start --pool {training.work_pool}`), or set training.work_pool: '' to "
            "train in the flow's process",
            path="params.yaml training.work_pool",
        ) from exc
    return str(deployment_id)
