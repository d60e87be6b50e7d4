"""How every command runs: its params loaded once, an expected failure said once, and ``--json`` honoured.

One mechanism instead of a copy per command: ``@command`` turns a ``CollapseGuardError`` (or a library's
exception that stands for one: MLflow or Prefect down, a full disk, see collapse_guard/pipeline/causes.py)
into its message on stderr, or a JSON object on stdout with ``--json``, and its documented exit code. A bug
keeps its traceback. Only typer and the standard library are imported here.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from collapse_guard.errors import EXIT_CODES, CollapseGuardError

EXIT_CODE_HELP = "Exit codes: " + "; ".join(f"{code} = {meaning}" for code, meaning in EXIT_CODES.items())

ParamsOption = Annotated[
    Path,
    typer.Option("--params", "-p", help="params.yaml of the workspace (paths in it are relative to it)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object on stdout.")]

_state: dict[str, Any] = {"debug": False, "params": None}


def debug_option(
    debug: Annotated[bool, typer.Option("--debug", help="Also print the traceback of an expected failure.")] = False,
) -> None:
    """The app's callback: options that apply to every command."""
    _state["debug"] = debug


def debugging() -> bool:
    return bool(_state["debug"])


class _FlagsShownAsFlags:
    """Typer shows click's ``<bool>`` type beside every flag in ``--help``, as if ``--json`` took a value; a flag
    takes none, so its type column stays empty."""

    def get_params(self, ctx):
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params


class Command(_FlagsShownAsFlags, TyperCommand):
    pass


class Group(_FlagsShownAsFlags, TyperGroup):
    pass


class ConsoleScript(typer.Typer):
    """The console script's app: few full garbage collections while the command works, none once it is done
    (collapse_guard/process_heap.py). The CLI run inside another process (typer's CliRunner) is unaffected."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from collapse_guard import process_heap

        process_heap.collect_old_objects_less_often()
        try:
            return super().__call__(*args, **kwargs)
        finally:
            process_heap.settle_heap_for_exit()


def new_app(help_text: str, app_type: type[typer.Typer] = typer.Typer, **settings: Any) -> typer.Typer:
    """A Typer app (or command group) whose commands render their flags as flags."""
    return app_type(help=help_text, cls=Group, no_args_is_help=True, rich_markup_mode="markdown", **settings)


def add_commands(app: typer.Typer, *functions: Callable, names: dict[Callable, str] | None = None) -> None:
    for function in functions:
        app.command((names or {}).get(function), cls=Command)(function)


def load(params_file: Path):  # -> collapse_guard.config.Params (imported lazily)
    """The workspace's params, validated; also what a library error is explained against (``named_cause``)."""
    from collapse_guard.modality.registry import load_params

    params = load_params(params_file)
    _state["params"] = params
    return params


F = TypeVar("F", bound=Callable[..., Any])


def command(function: F) -> F:
    """Run a command so that an expected failure ends it with its named cause and exit code, said once."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json", False))
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except CollapseGuardError as error:
            fail(error, as_json)
        except Exception as error:  # a library's error that stands for a named cause (a service, the disk)
            cause = _named_cause(error)
            if cause is None:
                raise  # a bug: its traceback is the report
            fail(cause, as_json)

    return guarded  # type: ignore[return-value]


@contextlib.contextmanager
def explained(params) -> Iterator[None]:
    """Inside, a library's exception becomes the named cause it stands for, so that what wraps the block (the
    alerts, the run's JSON) sees the cause, not the library's type."""
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


def _named_cause(error: Exception) -> CollapseGuardError | None:
    if _state["params"] is None:
        return None
    from collapse_guard.pipeline.causes import named_cause

    cause = named_cause(error, _state["params"])
    if cause is not None and cause.__cause__ is None:
        cause.__cause__ = error  # --debug prints where it came from
    return cause


def fail(error: CollapseGuardError, as_json: bool) -> None:
    """Say ``error`` once (stderr; with ``--json`` also as JSON on stdout, beside its ``details``) and exit
    with its code."""
    if as_json:
        payload = {
            **error.details,
            "error": {"type": type(error).__name__, "message": str(error), "exit_code": error.exit_code},
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True)
    if _state["debug"]:
        import traceback

        traceback.print_exception(error.__cause__ or error)
    # soft_wrap: the terminal wraps the message, rich does not cut a path in two with a newline (logs, copy-paste)
    console.print(f"[bold red]{type(error).__name__}[/]: {escape(str(error))}", highlight=False, soft_wrap=True)
    for failure in getattr(error, "failures", []) or []:
        console.print(f"  [red]✗[/] {escape(str(failure))}", highlight=False, soft_wrap=True)
    raise typer.Exit(error.exit_code)


def emit(payload: dict[str, Any], as_json: bool, text: str | Callable[[], None]) -> None:
    """The command's result: ``payload`` as JSON with ``--json``, else ``text`` (a string, or a function that
    prints the human form)."""
    if as_json:
        typer.echo(json.dumps(payload, indent=2, default=str))
    elif callable(text):
        text()
    elif text:
        typer.echo(text)


def working(message: str, quiet: bool):
    """A spinner on stderr while a long step runs (none with --json or without a terminal)."""
    from rich.console import Console

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        return contextlib.nullcontext()
    return console.status(message)


@contextlib.contextmanager
def holding(params, command_name: str) -> Iterator[Any]:
    """The workspace lock (collapse_guard/records/lock.py) for ``command_name``; says so when it took over
    from a killed run."""
    from collapse_guard.records.lock import workspace_lock

    with workspace_lock(params.workspace, command_name, params.run.lock_wait_seconds) as lock:
        if lock.took_over:
            typer.echo(f"took over the workspace lock from a killed run: {lock.took_over.describe()}", err=True)
        yield lock
