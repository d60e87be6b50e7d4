"""A pipeline collapse-guard did not build: gate the mixture it made (`check`), record the model it trained
(`record-model`). docs/guard-your-pipeline.md walks through both."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collapse_guard.cli.invocation import JsonOption, ParamsOption, command, emit, explained, holding, load, working


@command
def check(
    mixture: Annotated[Path, typer.Argument(help="The mixture: a Parquet or CSV file, or a folder of parts.")],
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="THEIR=OURS: your column name for a provenance column (repeatable; on top of check.columns).",
        ),
    ] = None,
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Gate a mixture your own pipeline made, as a guarded run gates its own: the same suites against the
    workspace's anchor (read only), the real-fraction floor, the anchor kept whole, provenance, the modality's
    checks and laundering. Exit 0 (passed) or 4 (blocked), the reasons in plain words; the verdict, the file's
    SHA-256 and the suites' digests go to the ledger and MLflow. Train only on a mixture that passed."""
    params = load(params_file)
    from collapse_guard.errors import GateBlocked
    from collapse_guard.guard import checked
    from collapse_guard.modality.registry import modality_for
    from collapse_guard.pipeline import mixture_check
    from collapse_guard.records.workspace import relative

    with holding(params, "collapse-guard check"), explained(params), working("checking the mixture", as_json):
        modality = modality_for(params)
        mapping = mixture_check.column_mapping(params.check.columns, mixture_check.parse_map(column_map or []))
        given = mixture_check.read_mixture(mixture, mapping, relative(params, mixture))
        outcome = mixture_check.check(params, modality, given)
        recorded = mixture_check.record(params, modality, outcome, by="check")
    try:
        result = checked(recorded)
    except GateBlocked as blocked:
        said = GateBlocked(
            f"the gate blocked the mixture {given.label}: {len(blocked.failures)} check(s) failed. Do not train on "
            f"it; the verdict is in the ledger (line {recorded.ledger_line}) and {recorded.gate_json}",
            failures=blocked.failures,
            outcome=blocked.outcome,
        )
        said.details = blocked.details  # --json: the same facts as a passing check's
        raise said from None
    emit(
        recorded.to_dict(),
        as_json,
        f"gate {outcome.verdict.describe()} on {given.label} ({outcome.summary.rows:,} records, real fraction "
        f"{outcome.summary.real_fraction:.2f})\n"
        f"mixture sha256 {result.sha256 or '-'}  records digest {result.records_digest or '-'}\n"
        f"recorded in the ledger (line {result.ledger_line}) and MLflow (run {result.mlflow_run_id}); "
        f"record the model trained on it with `collapse-guard record-model --mixture {result.digest[:16]} "
        "--model MODEL`",
    )


@command
def record_model(
    mixture: Annotated[
        str, typer.Option("--mixture", help="The mixture it was trained on: its file, or the digest `check` printed.")
    ],
    model: Annotated[
        str, typer.Option("--model", help="The model: a file, a folder, or a URI MLflow can download (runs:/...).")
    ],
    model_class: Annotated[
        str | None,
        typer.Option("--class", help="Its Generator class, module:Class (default: model.class in params.yaml)."),
    ] = None,
    evaluate: Annotated[
        bool, typer.Option(help="Evaluate it like any generation (its class must be a Generator that can sample).")
    ] = True,
    parent: Annotated[
        str | None,
        typer.Option(help="The model id that made its synthetic data (default: found from the mixture's records)."),
    ] = None,
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Record a model trained outside collapse-guard against the gated mixture it was trained on: refused
    (exit 14) unless that mixture passed the gate (`check`, or a guarded run's gate). It becomes the next
    generation: signed like the flow's models, registered in MLflow as a candidate, evaluated when its class can
    sample, and shown by `audit show`, the audit page and the evidence bundle."""
    params = load(params_file)
    from collapse_guard.modality.registry import modality_for
    from collapse_guard.pipeline.model_record import record_model as record

    modality = modality_for(params)
    with holding(params, "collapse-guard record-model"), explained(params), working("recording the model", as_json):
        recorded = record(
            params,
            modality,
            model=model,
            mixture=mixture,
            model_class=model_class,
            evaluate=evaluate,
            parent=parent,
        )
    shown = [*modality.headline, "heldout_real_loss", "drift_share"]
    measured = (
        ", ".join(f"{name} {recorded.metrics[name]:.3f}" for name in shown if name in recorded.metrics)
        if recorded.evaluated
        else "not evaluated (recorded with --no-evaluate)"
    )
    emit(
        recorded.to_dict(),
        as_json,
        f"recorded generation {recorded.generation}: model {recorded.model_id} ({recorded.model_path}), trained on "
        f"the mixture the gate passed at ledger line {recorded.gate_ledger_line}\n"
        f"{measured}\n"
        f"{'signed' if recorded.signed else 'unsigned workspace: not signed'}; registered as "
        f"{recorded.registered_model} version {recorded.version} (candidate); ledger line {recorded.ledger_line}",
    )
