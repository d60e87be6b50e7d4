"""Reviewing the audit trail: verify it, export it for a reviewer, write it as a page, show a lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collapse_guard.cli.invocation import JsonOption, ParamsOption, command, emit, explained, holding, load, working


@command
def verify(
    params_file: ParamsOption = Path("params.yaml"),
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Verify an evidence bundle from `audit export` instead (no workspace needed)."),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="The public key you trust (PEM), e.g. from the project's repository."),
    ] = None,
    fingerprint: Annotated[
        str | None,
        typer.Option(
            "--fingerprint",
            help="Pin the key you trust by its fingerprint (`.collapse-guard/signing.pub.fingerprint`, 64 hex).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the ledger's hash chain and, in a signed workspace, its signed head, its key chain and the signed
    statements: any edited, removed, reordered, appended or cut line, or a deleted ledger or key, fails (exit
    code 7). A bundle checked only against the key it carries is self-consistent, not authenticated (exit 12):
    give `--public-key` or `--fingerprint`. An unsigned workspace's chain is not authenticated either (exit 12)."""
    from collapse_guard.errors import LedgerTampered, Unauthenticated

    if bundle is not None:
        _verify_bundle(bundle, public_key, fingerprint, as_json)
        return
    params = load(params_file)
    from collapse_guard.pipeline.keys import verification_key
    from collapse_guard.records import alerts, ledger, signing

    key = verification_key(params, public_key, fingerprint)
    problems = _audit_problems(params, key.fingerprint if key.pinned else "")
    if problems:
        error = LedgerTampered("; ".join(problems), path=params.paths.ledger)
        alerts.send(params.alerts, alerts.for_error(error), alerts.journal_path(params.ledger_path))
        raise error
    for note in ledger.interrupted(params.ledger_path):
        typer.echo(f"note: {note}", err=True)
    entries = len(ledger.read(params.ledger_path))
    payload = {"ok": True, "entries": entries, **key.to_dict()}
    if not key.fingerprint:
        error = Unauthenticated(
            f"the hash chain of {entries} entries is unbroken, but the workspace is unsigned: nothing "
            "authenticates it (adopt signing with `collapse-guard audit rotate-key`)",
            path=params.paths.ledger,
        )
        error.details = {**payload, "ok": False}
        raise error
    current = ledger.recorded_key(params.ledger_path)
    payload["current_key"] = current
    moved = current and current != key.fingerprint
    through = f"; its key chain leads to the current key {signing.short(current)}" if moved else ""
    emit(payload, as_json, f"ledger intact: {entries} entries, verified from key {key.short} ({key.source}){through}")


def _audit_problems(params, trusted: str = "") -> list[str]:
    """What `audit verify` and `audit report` find wrong. A missing ledger is never "0 entries, intact": in a
    folder that was never initialised it is a configuration error (wrong --params?); beside an anchor it means the
    ledger was deleted (a signed workspace's statements already say how many entries they saw)."""
    from collapse_guard.errors import ConfigError
    from collapse_guard.pipeline.trust import audit_problems
    from collapse_guard.records import ledger

    problems = ledger.verify(params.ledger_path, trusted)
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


def _verify_bundle(bundle: Path, public_key: Path | None, fingerprint: str | None, as_json: bool) -> None:
    from collapse_guard.errors import LedgerTampered, Unauthenticated
    from collapse_guard.pipeline.evidence import verify_bundle

    verdict = verify_bundle(bundle, public_key, fingerprint)
    report = verdict.to_dict()
    if verdict.problems:
        error = LedgerTampered("; ".join(verdict.problems), path=str(bundle))
        error.details = report
        raise error
    summary = verdict.summary
    said = (
        f"{summary.get('ledger_entries', '?')} ledger entries, {len(summary.get('generations', []))} signed generations"
    )
    if not verdict.authenticated:
        error = Unauthenticated(
            f"self-consistent only: {said} check out against the key the bundle carries "
            f"({report['key']['short']}), which proves nothing about who signed it; give the key you trust "
            "with --public-key, or pin its fingerprint with --fingerprint",
            path=str(bundle),
        )
        error.details = {**report, "ok": False}
        raise error

    def said_in_words() -> None:
        typer.echo(f"bundle verified against {report['key']['source']} ({report['key']['short']}): {said}")
        for line in verdict.proved:
            typer.echo(f"  - {line}")

    emit({"ok": True, **summary, **{k: v for k, v in report.items() if k != "summary"}}, as_json, said_in_words)


@command
def rotate_key(
    watermark: Annotated[
        bool, typer.Option("--watermark", help="Rotate the text watermark key instead of the signing key.")
    ] = False,
    new_key: Annotated[
        Path | None,
        typer.Option(
            "--new-key", help="The new signing key (PEM), kept outside the workspace (default: a fresh pair)."
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "rotated by hand",
    params_file: ParamsOption = Path("params.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Change a key, explicitly and on the record: a new signing key pair endorsed by the old key (a signed
    rotation statement) and recorded in the ledger with both fingerprints, the old public key kept so what it
    signed still verifies; or (`--watermark`) a new watermark key, the old one retired and still screened.
    Needs the current key. On a workspace made before signing existed, adopts signing instead."""
    params = load(params_file)
    from collapse_guard.pipeline import keys

    with holding(params, "collapse-guard audit rotate-key"), explained(params):
        done = (
            keys.rotate_watermark_key(params, reason) if watermark else keys.rotate_signing_key(params, new_key, reason)
        )
    emit(done, as_json, done["message"])


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
    from collapse_guard.pipeline.trust import workspace_keys
    from collapse_guard.records import atomic
    from collapse_guard.reports import audit_page

    page = out if out is not None else params.resolve(params.paths.reports_dir) / "audit.html"
    problems = _audit_problems(params)
    with working("writing the audit page", as_json):
        view = audit_page.gather(params, problems, modality_for(params).figure_metrics, workspace_keys(params))
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
