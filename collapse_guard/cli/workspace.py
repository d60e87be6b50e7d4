"""Setting a workspace up."""

from __future__ import annotations

from pathlib import Path

from collapse_guard.cli.invocation import JsonOption, ParamsOption, command, emit, load


@command
def init(params_file: ParamsOption = Path("params.yaml"), as_json: JsonOption = False) -> None:
    """Set up the workspace: git and DVC repos, local DVC remote, the frozen real anchor, the MLflow
    store and the ledger. Idempotent: what exists is left as it is. The suites in expectations/ are checked
    first (exit code 2), and a table named by `data.source` is validated by the `incoming` suite before it
    becomes the anchor (exit code 3, nothing written)."""
    params = load(params_file)
    from collapse_guard.pipeline.setup import initialise

    created = initialise(params)
    said = [item if item.startswith(("restored", "migrated")) else f"created {item}" for item in created]
    emit({"created": created}, as_json, "\n".join(said) or "workspace already initialised")
