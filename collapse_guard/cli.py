"""The ``collapse-guard`` command line.

Only typer and the standard library are imported at module level: Prefect, MLflow, GX, Evidently,
DVC and torch load inside the commands that need them, so ``--help`` answers at once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from collapse_guard.errors import EXIT_CODES, CollapseGuardError
from collapse_guard.offline import apply_offline_defaults

# Prefect's per-task INFO lines belong in its UI; the terminal gets a progress bar and a summary. Its temporary
# server gets 90 s to start (Prefect's 20 s default is too short on a busy 2-core machine); an explicit setting wins.
apply_offline_defaults(PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90")

_EXIT_CODE_HELP = "Exit codes: " + "; ".join(f"{code} = {meaning}" for code, meaning in EXIT_CODES.items())


class _ConsoleScript(typer.Typer):
    """The console script's app: few full garbage collections while the command works, none once it is done
    (collapse_guard/process_heap.py). The CLI run inside another process (typer's CliRunner) is unaffected."""

    def __call__(self, *args, **kwargs):
        from collapse_guard import process_heap

        process_heap.collect_old_objects_less_often()
        try:
            return super().__call__(*args, **kwargs)
        finally:
            process_heap.settle_heap_for_exit()


app = _ConsoleScript(
    help=(
        "Guard generative models against collapse when they retrain on synthetic data: accumulate "
        "around a non-shrinking real anchor, label provenance, curate, and gate every mixture before "
        "training.\n\nTypical use: `collapse-guard init`, then `collapse-guard run --generations 3` "
        "on a schedule, and `collapse-guard audit show` to see what a model was trained on.\n\n" + _EXIT_CODE_HELP
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
_DEBUG = {"on": False}


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Also print the traceback of an expected failure.")] = False,
) -> None:
    _DEBUG["on"] = debug


audit_app = typer.Typer(help="Review and verify the append-only audit ledger.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

ParamsOption = Annotated[
    Path,
    typer.Option("--params", "-p", help="params.yaml of the workspace (paths in it are relative to it)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object on stdout.")]


def _fail(error: CollapseGuardError, as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        payload = {
            **(extra or {}),
            "error": {"type": type(error).__name__, "message": str(error), "exit_code": error.exit_code},
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True)
    if _DEBUG["on"]:
        import traceback

        traceback.print_exception(error.__cause__ or error)
    # soft_wrap: the terminal wraps the message, rich does not cut a path in two with a newline (logs, copy-paste)
    console.print(f"[bold red]{type(error).__name__}[/]: {escape(str(error))}", highlight=False, soft_wrap=True)
    for failure in getattr(error, "failures", []) or []:
        console.print(f"  [red]✗[/] {escape(str(failure))}", highlight=False, soft_wrap=True)
    raise typer.Exit(error.exit_code)


def _working(message: str, quiet: bool):
    """A spinner on stderr while a long step runs (none with --json or without a terminal)."""
    import contextlib

    from rich.console import Console

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        return contextlib.nullcontext()
    return console.status(message)


def _counted(hasher, status, message: str):
    """``hasher`` (a crawl's batch hasher), telling ``status`` (a spinner, or None) how many documents have been
    screened so far: a crawl of millions takes minutes."""
    if status is None:
        return hasher

    def counting(batches, settings, screen):
        done = 0
        for batch, hashed in hasher(batches, settings, screen):
            yield batch, hashed
            done += len(batch)
            status.update(f"{message}: {done:,} documents screened")

    return counting


def _holding(params, command: str, as_json: bool):
    """The workspace lock (collapse_guard/records/lock.py) for ``command``; says so when it took over from a
    killed run."""
    import contextlib

    from collapse_guard.records.lock import workspace_lock

    @contextlib.contextmanager
    def held():
        with workspace_lock(params.workspace, command, params.run.lock_wait_seconds) as lock:
            if lock.took_over:
                typer.echo(f"took over the workspace lock from a killed run: {lock.took_over.describe()}", err=True)
            yield lock

    return held()


def _named_causes(params):
    """Turn a library's exception (MLflow, Prefect's client, SQLite, the file system) into the named cause
    and exit code it stands for (collapse_guard/pipeline/causes.py); a bug keeps its traceback."""
    import contextlib

    @contextlib.contextmanager
    def translated():
        try:
            yield
        except CollapseGuardError:
            raise
        except Exception as error:
            from collapse_guard.pipeline.causes import named_cause

            cause = named_cause(error, params)
            if cause is None:
                raise
            raise cause from error

    return translated()


def _load(params_file: Path, as_json: bool = False):
    from collapse_guard.config import load_params

    try:
        return load_params(params_file)
    except CollapseGuardError as error:
        _fail(error, as_json)


@app.command()
def init(params_file: ParamsOption = Path("params.yaml"), as_json: JsonOption = False) -> None:
    """Set up the workspace: git and DVC repos, local DVC remote, the frozen real anchor, the MLflow
    store and the ledger. Idempotent: what exists is left as it is. The suites in expectations/ are checked
    first (exit code 2), and a table named by `data.source` is validated by the `incoming` suite before it
    becomes the anchor (exit code 3, nothing written)."""
    params = _load(params_file, as_json)
    from collapse_guard.pipeline.setup import initialise

    try:
        created = initialise(params)
    except CollapseGuardError as error:
        _fail(error, as_json)
    if as_json:
        typer.echo(json.dumps({"created": created}))
    else:
        said = [item if item.startswith(("restored", "migrated")) else f"created {item}" for item in created]
        typer.echo("\n".join(said) or "workspace already initialised")


@app.command()
def run(
    generations: Annotated[int, typer.Option("--generations", "-n", min=1, help="Guarded generations to run.")] = 1,
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Run guarded generations as a Prefect flow: generate → curate → mix → gate → train → evaluate →
    record. Each trains on the previous one's output; a fresh workspace first trains generation 0
    on real data only. A failed gate stops before training (exit code 4)."""
    params = _load(params_file, as_json)
    from collapse_guard.pipeline import preflight

    try:  # before the heavy imports: a service that is down is named within seconds
        preflight.check(params, os.environ.get("PREFECT_API_URL"))
    except CollapseGuardError as error:
        _fail(error, as_json)
    from collapse_guard.flows.prefect_api import prefect_api

    with prefect_api() as reporting:  # a temporary Prefect server, if one is needed, comes up from here on
        from rich.progress import Progress

        from collapse_guard.flows.guarded_retraining import guarded_retraining
        from collapse_guard.pipeline.recovery import clean_after_crash
        from collapse_guard.pipeline.setup import initialise
        from collapse_guard.records import alerts

        _hide_expected_tracebacks(params)
        outcomes = []
        with Progress(transient=True, disable=as_json or not sys.stderr.isatty()) as progress:
            bar = progress.add_task("guarded generations", total=generations)

            def advance(outcome) -> None:
                outcomes.append(outcome)
                progress.advance(bar)

            try:
                with (
                    alerts.on_failure(params.alerts, journal=alerts.journal_path(params.ledger_path)),
                    _holding(params, "collapse-guard run", as_json),
                    _named_causes(params),
                ):
                    for cleaned in clean_after_crash(params):
                        typer.echo(cleaned, err=True)
                    for done in initialise(params):
                        if done.startswith(("restored", "migrated")):
                            typer.echo(done, err=True)
                    with reporting.flows():
                        guarded_retraining(params, generations, on_generation=advance)
            except CollapseGuardError as error:
                blocked = [error.outcome] if getattr(error, "outcome", None) else []
                _fail(
                    error,
                    as_json,
                    {"status": "blocked", "generations": [o.to_dict() for o in outcomes] + blocked},
                )
        _summarise(params, outcomes, as_json)


@app.command()
def serve(params_file: ParamsOption = Path("params.yaml")) -> None:
    """Serve guarded retraining as a Prefect deployment on the cron schedule in params.yaml (`schedule:`),
    until stopped. Needs a persistent Prefect server (`make server`, then `export
    PREFECT_API_URL=http://127.0.0.1:4200/api`); its UI lists the scheduled runs. One scheduled run at a time
    (a Prefect concurrency limit on the deployment, and the workspace lock against a hand-started `run`)."""
    params = _load(params_file)
    from collapse_guard.errors import ConfigError
    from collapse_guard.pipeline import preflight

    api_url = os.environ.get("PREFECT_API_URL", "")
    try:
        if not api_url:
            raise ConfigError(
                "serve needs a persistent Prefect server: start one with `make server` and set "
                "PREFECT_API_URL=http://127.0.0.1:4200/api (a temporary server would forget the schedule)"
            )
        preflight.bound_client_waits()
        preflight.check_http("the Prefect API", api_url.rstrip("/") + "/health", "start it with `make server`")
    except CollapseGuardError as error:
        _fail(error, False)
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


def _hide_expected_tracebacks(params=None) -> None:
    """A blocked gate is an answer, not a crash: keep its traceback out of the terminal.

    Only the terminal handler is filtered; Prefect's API handler still sends the full record to the
    Prefect UI, and our own message (cause, file, failed expectations) is printed at the end.
    """
    import logging

    from prefect.logging.configuration import setup_logging
    from prefect.logging.handlers import PrefectConsoleHandler

    setup_logging()

    def keep(record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if _DEBUG["on"]:
            return True
        if error is None or isinstance(error, CollapseGuardError):
            return error is None
        from collapse_guard.pipeline.causes import named_cause  # a service or the disk, not a bug: named at the end

        return params is None or named_cause(error, params) is None

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.addFilter(keep)


def _summarise(params, outcomes, as_json: bool) -> None:
    from collapse_guard.records import ledger
    from collapse_guard.reports import forecast

    forecasts = forecast.for_history(forecast.recorded_history(ledger.read(params.ledger_path)), params.forecast)
    summary = {
        "status": "completed",
        "generations": [o.to_dict() for o in outcomes],
        "forecast": [f.to_dict() for f in forecasts],
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    from collapse_guard.modality.registry import modality_for

    modality = modality_for(params)
    table = Table(title="guarded generations")
    for column in ("gen", "real frac", "anchor", "synthetic", *modality.headline_labels, "drift", "heldout loss"):
        table.add_column(column, justify="right")
    tail, spread = modality.headline
    for o in outcomes:
        m = o.metrics
        table.add_row(
            str(o.generation),
            f"{o.real_fraction:.2f}",
            str(o.anchor_rows),
            str(o.counts["synthetic"]),
            f"{m[tail]:.2f}",
            f"{m[spread]:.2f}",
            f"{m['drift_share']:.2f}",
            f"{m['heldout_real_loss']:.3f}",
        )
    console = Console()
    console.print(table)
    for item in forecasts:
        console.print(f"Forecast:       {item.describe()}", highlight=False)
    console.print(f"MLflow UI:      mlflow ui --backend-store-uri {params.tracking.mlflow_tracking_uri}")
    if outcomes and outcomes[-1].drift_report:  # none with evaluation.drift_report: off
        console.print(f"Drift report:   {outcomes[-1].drift_report}")
    console.print(f"Audit trail:    collapse-guard audit show   (ledger: {params.paths.ledger})")


@app.command()
def experiment(
    params_file: ParamsOption = Path("params.yaml"),
    sweep: Annotated[bool, typer.Option(help="Also run the safe-zone sweep (anchor size × real fraction).")] = True,
    as_json: JsonOption = False,
) -> None:
    """Study collapse: every policy in `experiment.policies` × seeds × generations, in memory (nothing is
    shipped, so `replace` is allowed), plus the safe-zone sweep. Writes a tidy results table (Parquet +
    CSV), figures and the safe-zone table to `experiment.output_dir`, and logs every chain to MLflow."""
    params = _load(params_file, as_json)
    from prefect.task_runners import ThreadPoolTaskRunner
    from rich.progress import Progress

    from collapse_guard.flows.experiment import collapse_experiment
    from collapse_guard.pipeline.setup import initialise

    with Progress(disable=as_json) as progress:
        bar = progress.add_task("chains", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        try:
            initialise(params)
            runner = ThreadPoolTaskRunner(max_workers=params.experiment.workers)
            outcome = collapse_experiment.with_options(task_runner=runner)(params, sweep, on_chain_done=advance)
        except CollapseGuardError as error:
            _fail(error, as_json)
    from collapse_guard.records.workspace import relative

    summary = {
        "chains": outcome["chains"],
        "tables": {k: relative(params, v) for k, v in outcome["tables"].items()},
        "figures": [relative(params, p) for p in outcome["figures"]],
        "mlflow_run_id": outcome["mlflow_run_id"],
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_experiment(params, summary)


def _print_experiment(params, summary: dict) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    console = Console()
    results = pd.read_csv(params.resolve(summary["tables"]["results"]))
    last = results[results["generation"] == results["generation"].max()]
    table = Table(title=f"after generation {int(results['generation'].max())} (mean over seeds)")
    from collapse_guard.modality.registry import modality_for

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


@app.command()
def ingest(
    path: Annotated[
        Path,
        typer.Argument(
            help="Tabular: Parquet or CSV of new real records (same features as the anchor). Text: a JSONL file "
            '(one {"text": ...} per line), a Parquet file with a text column, or a folder of .txt files.'
        ),
    ],
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
    drop_repeated: Annotated[
        bool,
        typer.Option(
            "--drop-repeated",
            help="Leave out incoming rows whose values equal an anchor record (default: keep them; two records "
            "with equal values are two records).",
        ),
    ] = False,
) -> None:
    """Append new real data to the anchor (it only grows), version it with DVC, and record it in the ledger.

    Text is screened first, as a crawl of unknown origin: documents carrying a watermark of any known key, and
    exact or near-duplicates of the anchor or of each other, are quarantined (with reason and z-score) in
    `paths.quarantine_dir` instead. A malformed file (bad JSON line, wrong encoding, empty text) is rejected
    whole, naming the line: nothing is appended (exit code 3). A table is validated first by the `incoming`
    suite in expectations/ (same columns in any order, types, no missing, infinite or mistyped values, no
    empty column, no CSV index, no provenance columns of its own): a refusal names the file, the rule, the column
    and the first rows, and appends nothing (exit code 3)."""
    params = _load(params_file, as_json)
    from collapse_guard.pipeline.ingest import ingest_real
    from collapse_guard.pipeline.recovery import clean_files
    from collapse_guard.records import alerts
    from collapse_guard.records.runtime import return_freed_memory
    from collapse_guard.tasks.cluster import DaskHashing

    return_freed_memory()  # before the anchor's index is loaded: an ingest is a long screening (records/runtime.py)
    try:
        with (
            alerts.on_failure(params.alerts, journal=alerts.journal_path(params.ledger_path)),
            _holding(params, "collapse-guard ingest", as_json),
            _named_causes(params),
            _working(f"reading and screening {path}", as_json) as status,
        ):
            for cleaned in clean_files(params):
                typer.echo(cleaned, err=True)
            hashing = DaskHashing.of(params.text.dedup)  # a crawl past dask_min_documents is hashed on Dask
            hasher = _counted(hashing.stream, status, f"reading and screening {path}")
            result = ingest_real(params, path, keep_repeated=not drop_repeated, hasher=hasher)
    except CollapseGuardError as error:
        _fail(error, as_json)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for migrated in result["migrated"]:
        typer.echo(migrated, err=True)
    typer.echo(f"appended {result['added']} records; anchor has {result['rows']}")
    if result["repeated"]:
        kept = "kept as records of their own" if result["repeated_kept"] else "left out (--drop-repeated)"
        typer.echo(f"{result['repeated']} incoming rows equal existing records: {kept}")
    if result["quarantine"]:
        reasons = ", ".join(f"{count} {reason}" for reason, count in result["rejected"].items())
        typer.echo(f"quarantined {reasons}: {result['quarantine']}")


@app.command()
def detect(
    path: Annotated[
        Path, typer.Argument(help='Texts to check: JSONL ({"text": ...} per line), Parquet, or a folder of .txt.')
    ],
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Look for our watermark in texts, with every key and scheme the workspace recorded (`text.watermark`): per
    document the units scored, the whole-text z, the best window's z and its calibrated false-positive bound,
    the marked span, the key and scheme, and the verdict (marked / uncertain / clean). Read-only."""
    params = _load(params_file, as_json)
    from collapse_guard.text.corpus import read_corpus
    from collapse_guard.text.modality import TextModality

    try:
        with _working(f"scoring {path}", as_json):
            texts = read_corpus(path)["text"].tolist()
            scores = TextModality(params).screen().scores(texts)
    except CollapseGuardError as error:
        _fail(error, as_json)
    scores.insert(0, "document", range(1, len(scores) + 1))
    if as_json:
        typer.echo(json.dumps({"documents": scores.to_dict(orient="records")}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    watermark = params.text.watermark
    table = Table(title=f"watermark detection (marked: false-positive bound <= {watermark.fpr:g} per document)")
    for column in ("doc", "scored", "z", "best window z", "bound", "span", "key id", "scheme", "verdict"):
        table.add_column(column, justify="right")
    for row in scores.itertuples():
        found = row.verdict != "clean"
        table.add_row(
            str(row.document),
            str(row.scored),
            f"{row.z:.2f}",
            f"{row.window_z:.2f}",
            f"{row.window_p:.1e}",
            f"{row.span_start}-{row.span_end}" if found else "",
            row.key_id if found else "",
            row.scheme if found else "",
            row.verdict,
        )
    Console().print(table)


@app.command()
def promote(
    generation: Annotated[int, typer.Option("--generation", "-g", help="The generation whose model to serve.")],
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "promoted by hand",
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Move the MLflow Model Registry alias `champion` to a generation's model, by hand (recorded in the ledger)."""
    params = _load(params_file, as_json)
    from collapse_guard.pipeline import champion

    try:
        with _holding(params, "collapse-guard promote", as_json), _named_causes(params):
            moved = champion.promote(params, generation, reason)
    except CollapseGuardError as error:
        _fail(error, as_json)
    _say_moved(moved, as_json)


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "rolled back by hand",
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Give the alias `champion` back to the champion before the current one (recorded in the ledger)."""
    params = _load(params_file, as_json)
    from collapse_guard.pipeline import champion

    try:
        with _holding(params, "collapse-guard rollback", as_json), _named_causes(params):
            moved = champion.rollback(params, reason)
    except CollapseGuardError as error:
        _fail(error, as_json)
    _say_moved(moved, as_json)


def _say_moved(moved: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(moved))
        return
    typer.echo(
        f"champion of {moved['registered_model']}: version {moved['version']} (generation {moved['generation']}), "
        f"was {moved['champion_before'] or 'none'}"
    )


@audit_app.command("verify")
def audit_verify(
    params_file: ParamsOption = Path("params.yaml"),
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Verify an evidence bundle from `audit export` instead (no workspace needed)."),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="With --bundle: the trusted public key (default: the bundle's copy)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the ledger's hash chain and, in a signed workspace, its signed head and the signed statements:
    any edited, removed, reordered, appended or cut line, or a deleted ledger, fails (exit code 7)."""
    from collapse_guard.errors import LedgerTampered

    if bundle is not None:
        _verify_bundle(bundle, public_key, as_json)
        return
    params = _load(params_file, as_json)
    from collapse_guard.records import alerts, ledger

    problems = _audit_problems(params, as_json)
    if problems:
        error = LedgerTampered("; ".join(problems), path=params.paths.ledger)
        alerts.send(params.alerts, alerts.for_error(error), alerts.journal_path(params.ledger_path))
        _fail(error, as_json)
    entries = len(ledger.read(params.ledger_path))
    typer.echo(json.dumps({"ok": True, "entries": entries}) if as_json else f"ledger intact: {entries} entries")


def _audit_problems(params, as_json: bool) -> list[str]:
    """What `audit verify` and `audit report` find wrong. A missing ledger is never "0 entries, intact": in a
    folder that was never initialised it is a configuration error (wrong --params?); beside an anchor it means the
    ledger was deleted (a signed workspace's statements already say how many entries they saw)."""
    from collapse_guard.errors import ConfigError
    from collapse_guard.pipeline.trust import audit_problems
    from collapse_guard.records import ledger

    problems = ledger.verify(params.ledger_path)
    problems += audit_problems(params) if not problems else []
    if problems or params.ledger_path.exists():
        return problems
    if not params.anchor_path.exists():
        _fail(
            ConfigError(
                "nothing has been recorded here: no ledger and no anchor. Run `collapse-guard init` first, or "
                "point --params at the workspace's params.yaml",
                path=params.paths.ledger,
            ),
            as_json,
        )
    return ["the ledger is missing but the anchor exists: it was deleted or moved (restore it from a backup)"]


def _verify_bundle(bundle: Path, public_key: Path | None, as_json: bool) -> None:
    from collapse_guard.errors import LedgerTampered
    from collapse_guard.pipeline.evidence import load_summary, verify_bundle

    problems = verify_bundle(bundle, public_key)
    if problems:
        _fail(LedgerTampered("; ".join(problems), path=str(bundle)), as_json)
    summary = load_summary(bundle)
    if as_json:
        typer.echo(json.dumps({"ok": True, **summary}))
    else:
        typer.echo(
            f"bundle verified: {summary.get('ledger_entries', '?')} ledger entries, "
            f"{len(summary.get('generations', []))} signed generations"
        )


@audit_app.command("export")
def audit_export(
    target: Annotated[Path, typer.Argument(help="A new (or empty) folder for the evidence bundle.")],
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Write a self-contained evidence bundle (ledger with its signed head, signed statements, public key,
    README) that a reviewer verifies elsewhere with `audit verify --bundle` and the public key alone."""
    params = _load(params_file, as_json)
    from collapse_guard.pipeline.evidence import export

    try:
        summary = export(params, target)
    except CollapseGuardError as error:
        _fail(error, as_json)
    if as_json:
        typer.echo(json.dumps({"bundle": str(target), **summary}))
    else:
        generations = len(summary["generations"])
        typer.echo(f"wrote {target}: {summary['ledger_entries']} ledger entries, {generations} generations")


@audit_app.command("report")
def audit_report(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write the page (default: reports/audit.html).")
    ] = None,
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Write the audit trail as one self-contained HTML page (no server, nothing fetched): the verification
    result, the lineage with each step's signature, gate and promotion, mixtures, collapse metrics with their
    forecast, promotions and alerts. On a trail that does not verify the page is still written, with a red
    banner naming the broken entry, and the command exits 7."""
    params = _load(params_file, as_json)
    from collapse_guard.errors import LedgerTampered, WorkspaceUnwritable
    from collapse_guard.modality.registry import modality_for
    from collapse_guard.records import atomic
    from collapse_guard.reports import audit_page

    page = out if out is not None else params.resolve(params.paths.reports_dir) / "audit.html"
    problems = _audit_problems(params, as_json)
    with _working("writing the audit page", as_json):
        view = audit_page.gather(params, problems, modality_for(params).figure_metrics)
        try:
            atomic.write_text(page, audit_page.render(view, page))
        except OSError as error:
            _fail(
                WorkspaceUnwritable(
                    f"cannot write the audit page: {error.strerror or error}. Choose a writable --out, or make "
                    "the folder writable; nothing else was changed",
                    path=str(page),
                ),
                as_json,
            )
    summary = {"page": str(page), **view.to_dict()}
    if problems:
        _fail(
            LedgerTampered(f"{'; '.join(problems)} (the page shows it: {page})", path=params.paths.ledger),
            as_json,
            summary,
        )
    typer.echo(json.dumps(summary, indent=2, default=str) if as_json else f"audit page: {page}")


@audit_app.command("show")
def audit_show(
    generation: Annotated[int | None, typer.Option("--generation", "-g", help="Default: the latest.")] = None,
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """The lineage of a generation: each model, what it was trained on, the anchor it used, its gate."""
    params = _load(params_file, as_json)
    from collapse_guard.errors import DataError
    from collapse_guard.records import ledger

    entries = ledger.read(params.ledger_path)
    if generation is None:
        latest = ledger.latest(entries, "generation_recorded")
        generation = latest["body"]["generation"] if latest else -1
    chain = ledger.lineage(entries, generation)
    if not chain:
        _fail(DataError(f"no recorded generation {generation} in the ledger", path=params.paths.ledger), as_json)
    if as_json:
        typer.echo(json.dumps({"generation": generation, "lineage": [e["body"] for e in chain]}, indent=2))
        return
    from collapse_guard.modality.registry import modality_for

    modality = modality_for(params)
    (tail, spread), (tail_label, spread_label) = modality.headline, modality.headline_labels
    for entry in chain:
        b = entry["body"]
        mix = b["mixture"]
        typer.echo(
            f"generation {b['generation']}  model {b['model_id']}  (parent: {b['parent_model_id'] or 'none'})\n"
            f"  trained on {mix['rows']} records: {mix['real']} real + {mix['synthetic']} synthetic "
            f"({mix['policy']}, real fraction {mix['real_fraction']:.2f}); mixture {mix['file']}\n"
            f"  anchor: {b['anchor']['rows']} rows, DVC md5 {b['anchor']['dvc_md5']}\n"
            f"  {tail_label} {b['metrics'][tail]:.2f}, {spread_label} "
            f"{b['metrics'][spread]:.2f}; MLflow run {b['mlflow_run_id']}; ledger line {entry['seq']}"
        )


if __name__ == "__main__":  # pragma: no cover
    app()
