"""Running guarded retraining: now (`run`), on a schedule (`serve`), or as a study of collapse (`experiment`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from collapse_guard.cli.invocation import (
    JsonOption,
    ParamsOption,
    command,
    debugging,
    emit,
    explained,
    holding,
    load,
    working,
)
from collapse_guard.cli.workspace import SAID_WHOLE
from collapse_guard.errors import CollapseGuardError


@command
def run(
    generations: Annotated[int, typer.Option("--generations", "-n", min=1, help="Guarded generations to run.")] = 1,
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Run guarded generations as a Prefect flow: generate → curate → mix → gate → train → evaluate →
    record. Each trains on the previous one's output; a fresh workspace first trains generation 0
    on real data only. A failed gate stops before training (exit code 4)."""
    params = load(params_file)
    from collapse_guard.pipeline import preflight

    preflight.check(params, os.environ.get("PREFECT_API_URL"))  # before the heavy imports: named within seconds
    from collapse_guard.flows.prefect_api import prefect_api

    with prefect_api() as reporting:  # a temporary Prefect server, if one is needed, comes up from here on
        outcomes = _run_generations(params, generations, as_json, reporting)
        summarise(params, outcomes, as_json)


def _run_generations(params, generations: int, as_json: bool, reporting) -> list:
    from rich.progress import Progress

    from collapse_guard.cli.progress import followed
    from collapse_guard.flows.guarded_retraining import guarded_retraining
    from collapse_guard.pipeline.recovery import clean_after_crash
    from collapse_guard.pipeline.setup import initialise
    from collapse_guard.records import alerts

    _terminal_shows_warnings_only(params)
    outcomes = []
    on_terminal = not as_json and sys.stderr.isatty()
    with Progress(*_progress_columns(), transient=True, disable=not on_terminal) as progress:
        bar = progress.add_task("guarded generations", total=generations)

        def advance(outcome) -> None:
            outcomes.append(outcome)
            progress.advance(bar)

        try:
            with (
                followed(progress if on_terminal else None),
                alerts.on_failure(params.alerts, journal=alerts.journal_path(params.ledger_path)),
                holding(params, "collapse-guard run"),
                explained(params),
            ):
                for cleaned in clean_after_crash(params):
                    typer.echo(cleaned, err=True)
                for done in initialise(params):
                    if done.startswith(SAID_WHOLE):
                        typer.echo(done, err=True)
                with reporting.flows():
                    guarded_retraining(params, generations, on_generation=advance)
        except CollapseGuardError as error:
            blocked = [error.outcome] if getattr(error, "outcome", None) else []
            error.details = {"status": "blocked", "generations": [o.to_dict() for o in outcomes] + blocked}
            raise
    return outcomes


@command
def serve(params_file: ParamsOption = Path("params.yaml"), as_json: JsonOption = False) -> None:
    """Serve guarded retraining as a Prefect deployment on the cron schedule in params.yaml (`schedule:`),
    until stopped. Needs a persistent Prefect server (`make server`, then `export
    PREFECT_API_URL=http://127.0.0.1:4200/api`); its UI lists the scheduled runs. One scheduled run at a time
    (a Prefect concurrency limit on the deployment, and the workspace lock against a hand-started `run`). With
    `--json`, a failure to start is printed as JSON (what it serves is in the Prefect UI)."""
    params = load(params_file)
    from collapse_guard.errors import ConfigError
    from collapse_guard.pipeline import preflight

    api_url = os.environ.get("PREFECT_API_URL", "")
    if not api_url:
        raise ConfigError(
            "serve needs a persistent Prefect server: start one with `make server` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (a temporary server would forget the schedule)"
        )
    preflight.bound_client_waits()
    preflight.check_http("the Prefect API", api_url.rstrip("/") + "/health", "start it with `make server`")
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from collapse_guard.flows.scheduled import scheduled_retraining

    schedule = params.schedule
    scheduled_retraining.serve(
        name=schedule.deployment,
        schedules=[Cron(schedule.cron, timezone=schedule.timezone)],
        parameters={"params_file": params.source_file, "generations": schedule.generations},
        global_limit=1,
        pause_on_shutdown=False,
        entrypoint_type=EntrypointType.MODULE_PATH,
        tags=["collapse-guard"],
    )


def _progress_columns() -> tuple:
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

    return (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def _terminal_shows_warnings_only(params=None) -> None:
    """Prefect's console handler (stderr) keeps warnings and errors; Prefect's own INFO lines are in its UI, and
    the package's step lines are printed by cli/progress.py. A blocked gate is an answer, not a crash: its
    traceback stays out of the terminal too, and our own message (cause, file, failed checks) ends the run.

    Only the terminal handler is filtered: Prefect's API handler still sends every record to the Prefect UI.
    """
    import logging
    import sys

    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()

    def keep(record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if debugging():
            return True
        if record.levelno < logging.WARNING:
            return False
        if error is None or isinstance(error, CollapseGuardError):
            return error is None
        from collapse_guard.pipeline.causes import named_cause  # a service or the disk, not a bug: named at the end

        return params is None or named_cause(error, params) is None

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.addFilter(keep)
            # Prefect bound the handler to the stderr of the moment its logging was set up: write to this command's
            handler.stream = sys.stderr  # not setStream: it flushes the old stream, which may be closed
            handler.console.file = sys.stderr


def summarise(params, outcomes, as_json: bool) -> None:
    """The run's result: every generation's outcome and the collapse forecast (a table, or JSON)."""
    from collapse_guard.records import ledger
    from collapse_guard.reports import forecast

    forecasts = forecast.for_history(forecast.recorded_history(ledger.read(params.ledger_path)), params.forecast)
    summary = {
        "status": "completed",
        "generations": [o.to_dict() for o in outcomes],
        "forecast": [f.to_dict() for f in forecasts],
    }
    emit(summary, as_json, lambda: _print_summary(params, outcomes, forecasts))


def _print_summary(params, outcomes, forecasts) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from collapse_guard.modality.registry import modality_for

    modality = modality_for(params)
    table = Table(title="guarded generations", box=box.SIMPLE_HEAD)  # no vertical rules: 8 columns fit 80
    for column in ("gen", "real frac", "anchor", "synth", *modality.headline_labels, "drift", "heldout loss"):
        table.add_column(column, justify="right")
    tail, spread = modality.headline
    for o in outcomes:
        m = o.metrics
        table.add_row(
            str(o.generation),
            f"{o.real_fraction:.2f}",
            str(o.anchor_rows),
            str(o.counts["synthetic"]),
            f"{m.get(tail, float('nan')):.2f}",
            f"{m[spread]:.2f}",
            f"{m['drift_share']:.2f}",
            f"{m['heldout_real_loss']:.3f}",
        )
    console = Console()
    console.print(table)
    for item in forecasts:
        console.print(f"Forecast:       {item.describe()}", highlight=False)
    console.print(f"MLflow UI:      {mlflow_ui_command(params)}", highlight=False, soft_wrap=True)
    from collapse_guard.cli.workspace import commit_hint, from_here, params_flag
    from collapse_guard.records.versioning import uncommitted

    if outcomes and outcomes[-1].drift_report:  # none with evaluation.drift_report: off
        console.print(f"Drift report:   {from_here(params.resolve(outcomes[-1].drift_report))}")
    flag = params_flag(params)
    ledger = from_here(params.resolve(params.paths.ledger))
    console.print(f"Audit trail:    collapse-guard audit show{flag}   (ledger: {ledger})", highlight=False)
    console.print(f"Status:         collapse-guard status{flag}", highlight=False)
    to_commit = uncommitted(params.workspace)
    if to_commit:
        console.print(f"Git:            {commit_hint(to_commit, params.workspace)}", highlight=False, soft_wrap=True)


@command
def experiment(
    params_file: ParamsOption = Path("params.yaml"),
    sweep: Annotated[bool, typer.Option(help="Also run the safe-zone sweep (anchor size × real fraction).")] = True,
    theory: Annotated[
        bool,
        typer.Option(
            "--theory",
            help="Instead: reproduce the closed forms of collapse (collapse_guard/theory.py) with the product's own "
            "chain and print each formula, measurement, relative error and seeds. Writes nothing.",
        ),
    ] = False,
    safe_zone: Annotated[
        bool,
        typer.Option(
            "--safe-zone",
            help="Instead: certify the smallest real fraction r* that keeps every headline metric within "
            "`experiment.safe_zone.tolerance` of generation 0 on this anchor and model (an adaptive search), log it "
            "to MLflow and record it in the ledger: what `gate.min_real_fraction: auto` uses.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Study collapse: every policy in `experiment.policies` × seeds × generations, in memory (nothing is
    shipped, so `replace` is allowed), plus the safe-zone sweep. Writes a tidy results table (Parquet +
    CSV), figures and the safe-zone table to `experiment.output_dir`, and logs every chain to MLflow.
    `--theory` and `--safe-zone` run instead (docs/safe-real-fraction.md)."""
    params = load(params_file)
    if theory and safe_zone:
        raise typer.BadParameter("give --theory or --safe-zone, not both")
    if theory:
        _experiment_theory(params, as_json)
        return
    if safe_zone:
        _experiment_safe_zone(params, as_json)
        return
    from prefect.task_runners import ThreadPoolTaskRunner
    from rich.progress import Progress

    from collapse_guard.flows.experiment import collapse_experiment
    from collapse_guard.pipeline.setup import initialise

    with Progress(disable=as_json) as progress:
        bar = progress.add_task("chains", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        with explained(params):
            initialise(params)
            runner = ThreadPoolTaskRunner(max_workers=params.experiment.workers)
            outcome = collapse_experiment.with_options(task_runner=runner)(params, sweep, on_chain_done=advance)
    from collapse_guard.records.workspace import relative

    summary = {
        "chains": outcome["chains"],
        "tables": {k: relative(params, v) for k, v in outcome["tables"].items()},
        "figures": [relative(params, p) for p in outcome["figures"]],
        "mlflow_run_id": outcome["mlflow_run_id"],
    }
    emit(summary, as_json, lambda: _print_experiment(params, summary))


def _experiment_theory(params, as_json: bool) -> None:
    from collapse_guard.pipeline import theory_checks

    with working("reproducing the closed forms", as_json):
        report = theory_checks.reproduce(params, params.experiment.theory_scale, params.experiment.workers)
    emit(report.to_dict(), as_json, "\n".join(theory_checks.describe(report)))
    if not report.passed:
        raise typer.Exit(1)


def _experiment_safe_zone(params, as_json: bool) -> None:
    from prefect.task_runners import ThreadPoolTaskRunner

    from collapse_guard.flows.safe_zone import safe_zone_search
    from collapse_guard.pipeline.safe_zone import describe
    from collapse_guard.pipeline.setup import initialise
    from collapse_guard.records.workspace import relative

    with (
        holding(params, "collapse-guard experiment --safe-zone"),
        explained(params),
        working("searching the safe real fraction", as_json),
    ):
        initialise(params)
        runner = ThreadPoolTaskRunner(max_workers=params.experiment.workers)
        outcome = safe_zone_search.with_options(task_runner=runner)(params)
    summary = {
        **outcome["zone"].to_dict(),
        "tables": {k: relative(params, v) for k, v in outcome["tables"].items()},
        "figure": relative(params, outcome["figure"]),
        "mlflow_run_id": outcome["mlflow_run_id"],
        "ledger_line": outcome["ledger_line"],
    }
    emit(summary, as_json, "\n".join(describe(outcome["zone"], summary)))


def _print_experiment(params, summary: dict) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from collapse_guard.modality.registry import modality_for

    console = Console()
    results = pd.read_csv(params.resolve(summary["tables"]["results"]))
    last = results[results["generation"] == results["generation"].max()]
    table = Table(title=f"after generation {int(results['generation'].max())} (mean over seeds)")
    modality = modality_for(params)
    tail, spread = modality.headline
    for column in ("policy", *modality.headline_labels, "held-out NLL", "real fraction", "gate"):
        table.add_column(column, justify="right")
    for policy, rows in last.groupby("policy", sort=False):
        table.add_row(
            policy,
            f"{rows[tail].mean():.2f}",
            f"{rows[spread].mean():.2f}",
            f"{rows['heldout_real_loss'].mean():.3f}",
            f"{rows['real_fraction'].mean():.2f}",
            _gate_column(results[results["policy"] == policy]),
        )
    console.print(table)
    for name, path in summary["tables"].items():
        console.print(f"{name + ':':<12} {path}")
    for path in summary["figures"]:
        console.print(f"figure:      {path}")


def _gate_column(chains) -> str:
    """'passed', or from which generation the gate's real-fraction floor would have blocked the chain."""
    if "gate_blocked" not in chains or not chains["gate_blocked"].any():
        return "passed"
    return f"blocked from gen {int(chains.loc[chains['gate_blocked'], 'generation'].min())}"


def mlflow_ui_command(params) -> str:
    """The one way to open this workspace's MLflow store: one worker (MLflow's default of four took minutes to
    answer on a 2-core machine), on this machine only, from the workspace folder."""
    return (
        f"mlflow ui --backend-store-uri {params.tracking_uri} --default-artifact-root "
        f"{params.resolve(params.tracking.mlflow_artifacts)} --workers 1 --host 127.0.0.1 --port 5000"
    )
