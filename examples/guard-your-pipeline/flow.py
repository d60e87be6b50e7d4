"""The same pipeline as a Prefect flow: the team's own jobs (pipeline.py) as tasks, collapse-guard's tasks
between them (collapse_guard/tasks/guard.py). A blocked mixture fails the flow run before anything trains on it.

    python flow.py --round 2

Each round builds its mixture, gates it, fine-tunes the previous round's model on it and records the model.
"""

from __future__ import annotations

import argparse

import pipeline
from prefect import flow, task

from collapse_guard import Guard
from collapse_guard.tasks.guard import check_mixture, record_trained_model


@task
def build_mixture(params_file: str, round_: int, synthetic: int) -> str:
    """Your data job."""
    return str(pipeline.mix(Guard.from_params(params_file), round_, synthetic))


@task
def fine_tune(round_: int) -> str:
    """Your training job (on a GPU pool: make it a deployment and start it with Prefect's run_deployment)."""
    return str(pipeline.train(round_))


@flow(name="team-pipeline", flow_run_name="round-{round_}")
def team_pipeline(params_file: str = "params.yaml", round_: int = 0, synthetic: int = 40) -> str:
    """One round, guarded: the model id it was recorded as."""
    mixture = build_mixture(params_file, round_, synthetic)
    checked = check_mixture(params_file, mixture)  # GateBlocked here: nothing below runs
    model = fine_tune(round_)
    return record_trained_model(params_file, model, checked.digest).model_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round", type=int, required=True, dest="round_")
    parser.add_argument("--synthetic", type=int, default=40)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    pipeline.WORK.mkdir(exist_ok=True)
    print(team_pipeline(args.params, args.round_, args.synthetic))


if __name__ == "__main__":
    main()
