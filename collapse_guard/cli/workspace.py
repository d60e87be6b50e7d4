"""Setting a workspace up."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from collapse_guard.cli.invocation import JsonOption, ParamsOption, command, emit, load

if TYPE_CHECKING:
    from collapse_guard.config import Params

SAID_WHOLE = ("restored", "migrated", "changed", "note")  # what initialise reports that it did not create


@command
def init(params_file: ParamsOption = Path("params.yaml"), as_json: JsonOption = False) -> None:
    """Set up the workspace: git and DVC repos, local DVC remote, the frozen real anchor, the MLflow
    store and the ledger. Idempotent: what exists is left as it is. The suites in expectations/ are checked
    first (exit code 2), and a table named by `data.source` is validated by the `incoming` suite before it
    becomes the anchor (exit code 3, nothing written)."""
    params = load(params_file)
    from collapse_guard.pipeline.setup import initialise
    from collapse_guard.records.versioning import uncommitted

    created = initialise(params)
    said = [item if item.startswith(SAID_WHOLE) else f"created {item}" for item in created]
    to_commit = uncommitted(params.workspace)
    said += [commit_hint(to_commit, params.workspace)] if to_commit else []
    emit({"created": created, "to_commit": to_commit}, as_json, "\n".join(said) or "workspace already initialised")


def commit_hint(paths: list[str], workspace: Path) -> str:
    """What to commit so that a clone of the repository restores this workspace (DVC pointers, the public key), as
    a command that works from the current folder (``git -C`` into a workspace elsewhere: its paths are its own)."""
    listed = " ".join(paths)
    git = "git" if Path(workspace).resolve() == Path.cwd().resolve() else f"git -C {from_here(workspace)}"
    return f"to keep this state in git (a clone restores it with `dvc pull`): {git} add {listed} && {git} commit"


def from_here(path: Path | str) -> str:
    """``path`` as the operator's shell reaches it: relative to the current folder when inside it."""
    from collapse_guard.records.workspace import workspace_relative

    return workspace_relative(Path.cwd(), Path(path).resolve())


def params_flag(params: Params) -> str:
    """`` --params FILE`` for a command printed for the operator to type, unless FILE is ./params.yaml."""
    source = Path(params.source_file).resolve()
    return "" if source == (Path.cwd() / "params.yaml").resolve() else f" --params {from_here(source)}"


@command
def status(params_file: ParamsOption = Path("params.yaml"), as_json: JsonOption = False) -> None:
    """Where the workspace stands, at a glance: the champion (generation, model, since when), how the last run
    ended (and what blocked it), the next generation, the anchor (rows, DVC version, digest), the alerts raised
    since the last run started, the collapse forecast, and the schedule (whether a Prefect server serves it, when
    PREFECT_API_URL is set). Read-only; exit code 7 when the ledger does not verify."""
    params = load(params_file)
    from collapse_guard.errors import ConfigError, LedgerTampered
    from collapse_guard.pipeline.status import workspace_status

    if not params.ledger_path.exists():
        raise ConfigError(
            "nothing has been recorded here: run `collapse-guard init`, or point --params at the workspace's "
            "params.yaml",
            path=params.paths.ledger,
        )
    found = workspace_status(params)
    payload = {**found.to_dict(), "schedule": _schedule(params)}
    if found.problems:
        error = LedgerTampered("; ".join(found.problems), path=params.paths.ledger)
        error.details = payload
        raise error
    emit(payload, as_json, lambda: _print_status(params, payload))


def _schedule(params) -> dict:
    """The schedule in params.yaml and, with a Prefect server (PREFECT_API_URL), whether it is served there and
    when its next run is due."""
    import os

    schedule = params.schedule
    found = {"cron": schedule.cron, "timezone": schedule.timezone, "deployment": schedule.deployment}
    if not os.environ.get("PREFECT_API_URL"):
        return {**found, "served": None, "note": "no PREFECT_API_URL: not looked up"}
    from collapse_guard.pipeline import preflight

    preflight.bound_client_waits()
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(f"scheduled-retraining/{schedule.deployment}")
            due = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )
    except Exception as exc:  # not deployed, or the server does not answer: said, not fatal
        return {**found, "served": False, "note": f"not served by the Prefect server ({type(exc).__name__})"}
    next_run = due[0].expected_start_time.isoformat() if due and due[0].expected_start_time else ""
    return {**found, "served": True, "next_run": next_run}


def _print_status(params, payload: dict) -> None:
    import typer

    def line(label: str, text: str) -> None:
        typer.echo(f"{label:<11} {text}")

    line("workspace", f"{params.workspace}  (ledger: {payload['ledger_entries']} entries, verified)")
    champion = payload["champion"]
    line(
        "champion",
        f"generation {champion['generation']} (model {champion['model_id'] or '?'}, registry version "
        f"{champion['version']}), since {_when(champion['since'])}"
        if champion
        else "none yet",
    )
    run = payload["last_run"]
    if run:
        ended = f", ended {_when(run['ended'])}" if run["ended"] else ""
        line("last run", f"started {_when(run['started'])}{ended}: {run['outcome']}")
        for blocked in run["blocked_by"]:
            for failure in blocked["failures"]:
                line("", f"  generation {blocked['generation']} blocked: {failure}")
        if run["error"] and not run["blocked_by"]:
            line("", f"  {run['error']}")
    else:
        line("last run", "none yet")
    line("next", f"generation {payload['next_generation']}")
    anchor = payload["anchor"]
    if anchor:
        line(
            "anchor",
            f"{anchor['rows']:,} rows, DVC md5 {anchor['dvc_md5'][:12] or '-'}, digest {anchor['digest'][:12]} "
            f"({anchor['by'].replace('_', ' ')} {_when(anchor['since'])})",
        )
    alerts = payload["open_alerts"]
    line("alerts", f"{len(alerts)} since the last run started" if alerts else "none since the last run started")
    for alert in alerts:
        where = f"generation {alert['generation']}" if alert.get("generation") is not None else "workspace"
        line("", f"  {alert['event']} ({where}): {alert['cause'][:160]}")
    for made in payload["forecast"]:
        line("forecast", made["said"])
    schedule = payload["schedule"]
    served = {True: f"served, next run {_when(schedule.get('next_run', ''))}", False: schedule.get("note", "")}
    line(
        "schedule",
        f"'{schedule['cron']}' {schedule['timezone']} (deployment {schedule['deployment']}): "
        f"{served.get(schedule['served'], schedule.get('note', ''))}",
    )


def _when(stamp: str) -> str:
    return stamp[:16].replace("T", " ") + " UTC" if stamp else "-"
