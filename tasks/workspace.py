"""What a served (scheduled) run does before its generations: check every external part, set the workspace up."""

import os

from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.config import Params
from collapse_guard.pipeline import preflight
from collapse_guard.pipeline.recovery import clean_after_crash
from collapse_guard.pipeline.setup import initialise


@task(name="check-services", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def check_services(params: Params) -> None:
    """MLflow, the DVC remote and the workspace's folders answer (collapse_guard/pipeline/preflight.py);
    retried by Prefect, then the run fails naming the part."""
    preflight.check(params, os.environ.get("PREFECT_API_URL"))


@task(name="initialise-workspace", cache_policy=NO_CACHE)
def initialise_workspace(params: Params) -> list[str]:
    return initialise(params)


@task(name="clean-after-crash", cache_policy=NO_CACHE)
def clean_after_a_killed_run(params: Params) -> list[str]:
    """Temp files and RUNNING MLflow runs a killed run left (collapse_guard/pipeline/recovery.py); logged."""
    from prefect import get_run_logger

    cleaned = clean_after_crash(params)
    for line in cleaned:
        get_run_logger().warning(line)
    return cleaned
