"""Which model is served: the MLflow Model Registry alias `champion`, moved by hand and recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collapse_guard.cli.invocation import JsonOption, ParamsOption, command, emit, explained, holding, load


@command
def promote(
    generation: Annotated[int, typer.Option("--generation", "-g", help="The generation whose model to serve.")],
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "promoted by hand",
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Move the MLflow Model Registry alias `champion` to a generation's model, by hand (recorded in the ledger)."""
    params = load(params_file)
    from collapse_guard.pipeline import champion

    with holding(params, "collapse-guard promote"), explained(params):
        moved = champion.promote(params, generation, reason)
    _say_moved(moved, as_json)


@command
def rollback(
    to: Annotated[
        int | None, typer.Option("--to", help="Roll back to this earlier champion's generation (default: one back).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "rolled back by hand",
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Give the alias `champion` back to the champion before the current one (recorded in the ledger). Each
    rollback goes one champion further back through the history the ledger records; `--to N` goes back to the
    earlier champion that was generation N."""
    params = load(params_file)
    from collapse_guard.pipeline import champion

    with holding(params, "collapse-guard rollback"), explained(params):
        moved = champion.rollback(params, reason, to=to)
    _say_moved(moved, as_json)


def _say_moved(moved: dict, as_json: bool) -> None:
    before = moved["champion_before"]
    was = f"version {before} (generation {moved.get('generation_before')})" if before else "none"
    emit(
        moved,
        as_json,
        f"{moved['by']}: the champion of {moved['registered_model']} is now version {moved['version']} "
        f"(generation {moved['generation']}); it was {was}. Recorded in the ledger.",
    )
