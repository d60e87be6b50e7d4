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
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "rolled back by hand",
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Give the alias `champion` back to the champion before the current one (recorded in the ledger)."""
    params = load(params_file)
    from collapse_guard.pipeline import champion

    with holding(params, "collapse-guard rollback"), explained(params):
        moved = champion.rollback(params, reason)
    _say_moved(moved, as_json)


def _say_moved(moved: dict, as_json: bool) -> None:
    emit(
        moved,
        as_json,
        f"champion of {moved['registered_model']}: version {moved['version']} (generation {moved['generation']}), "
        f"was {moved['champion_before'] or 'none'}",
    )
