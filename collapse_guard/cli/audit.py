"""Reviewing the audit trail: verify it, export it for a reviewer, write it as a page, show a lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collapse_guard.cli.invocation import JsonOption, ParamsOption, command, emit, load, working


@command
def verify(
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
    params = load(params_file)
    from collapse_guard.records import alerts, ledger

    problems = _audit_problems(params)
    if problems:
        error = LedgerTampered("; ".join(problems), path=params.paths.ledger)
        alerts.send(params.alerts, alerts.for_error(error), alerts.journal_path(params.ledger_path))
        raise error
    entries = len(ledger.read(params.ledger_path))
    emit({"ok": True, "entries": entries}, as_json, f"ledger intact: {entries} entries")


def _audit_problems(params) -> list[str]:
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
        raise ConfigError(
            "nothing has been recorded here: no ledger and no anchor. Run `collapse-guard init` first, or "
            "point --params at the workspace's params.yaml",
            path=params.paths.ledger,
        )
    return ["the ledger is missing but the anchor exists: it was deleted or moved (restore it from a backup)"]


def _verify_bundle(bundle: Path, public_key: Path | None, as_json: bool) -> None:
    from collapse_guard.errors import LedgerTampered
    from collapse_guard.pipeline.evidence import load_summary, verify_bundle

    problems = verify_bundle(bundle, public_key)
    if problems:
        raise LedgerTampered("; ".join(problems), path=str(bundle))
    summary = load_summary(bundle)
    emit(
        {"ok": True, **summary},
        as_json,
        f"bundle verified: {summary.get('ledger_entries', '?')} ledger entries, "
        f"{len(summary.get('generations', []))} signed generations",
    )


@command
def export(
    target: Annotated[Path, typer.Argument(help="A new (or empty) folder for the evidence bundle.")],
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Write a self-contained evidence bundle (ledger with its signed head, signed statements, public key,
    README) that a reviewer verifies elsewhere with `audit verify --bundle` and the public key alone."""
    params = load(params_file)
    from collapse_guard.pipeline.evidence import export as export_bundle

    summary = export_bundle(params, target)
    generations = len(summary["generations"])
    emit(
        {"bundle": str(target), **summary},
        as_json,
        f"wrote {target}: {summary['ledger_entries']} ledger entries, {generations} generations",
    )


@command
def report(
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
    params = load(params_file)
    from collapse_guard.errors import LedgerTampered, WorkspaceUnwritable
    from collapse_guard.modality.registry import modality_for
    from collapse_guard.records import atomic
    from collapse_guard.reports import audit_page

    page = out if out is not None else params.resolve(params.paths.reports_dir) / "audit.html"
    problems = _audit_problems(params)
    with working("writing the audit page", as_json):
        view = audit_page.gather(params, problems, modality_for(params).figure_metrics)
        try:
            atomic.write_text(page, audit_page.render(view, page))
        except OSError as error:
            raise WorkspaceUnwritable(
                f"cannot write the audit page: {error.strerror or error}. Choose a writable --out, or make "
                "the folder writable; nothing else was changed",
                path=str(page),
            ) from error
    summary = {"page": str(page), **view.to_dict()}
    if problems:
        error = LedgerTampered(f"{'; '.join(problems)} (the page shows it: {page})", path=params.paths.ledger)
        error.details = summary
        raise error
    emit(summary, as_json, f"audit page: {page}")


@command
def show(
    generation: Annotated[int | None, typer.Option("--generation", "-g", help="Default: the latest.")] = None,
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """The lineage of a generation: each model, what it was trained on, the anchor it used, its gate and the
    thresholds the gate applied (as the ledger recorded them). A generation the gate blocked is shown too: its
    failures, the anchor it observed and the thresholds that blocked it."""
    params = load(params_file)
    from collapse_guard.errors import DataError
    from collapse_guard.records import ledger
    from collapse_guard.reports import verdicts

    entries = ledger.read(params.ledger_path)
    if generation is None:
        latest = ledger.latest(entries, "generation_recorded")
        generation = latest["body"]["generation"] if latest else -1
    record = verdicts.generation_record(entries, generation, ledger.lineage(entries, generation))
    if record is None:
        raise DataError(f"no recorded generation {generation} in the ledger", path=params.paths.ledger)
    emit(record.to_dict(), as_json, lambda: _print_record(params, record))


def _print_record(params, record) -> None:
    from collapse_guard.modality.registry import modality_for
    from collapse_guard.reports import verdicts

    modality = modality_for(params)
    typer.echo("\n".join(verdicts.show_lines(record, modality.headline, modality.headline_labels)))
