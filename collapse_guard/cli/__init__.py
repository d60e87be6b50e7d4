"""The ``collapse-guard`` command line: one Typer app, its commands grouped by what they act on.

Only typer and the standard library are imported at module level, here and in every command module: Prefect,
MLflow, GX, Evidently, DVC and torch load inside the commands that need them, so ``--help`` answers at once.
Every command runs through ``invocation.command`` (one way to load params, fail and print ``--json``).
"""

from __future__ import annotations

from collapse_guard.cli import audit, champion, data, external, retraining, workspace
from collapse_guard.cli.invocation import EXIT_CODE_HELP, ConsoleScript, add_commands, debug_option, new_app
from collapse_guard.offline import apply_offline_defaults

# Prefect's own INFO lines go to its UI (its console handler is filtered to warnings: cli/retraining.py); the package's
# step lines go to stderr (cli/progress.py) and, as one of Prefect's extra loggers, to the UI too (outside a flow run
# they have no run to belong to: dropped there, quietly). MLflow's INFO chatter (database migrations) stays out of
# the CLI's output. Prefect's temporary server gets 90 s to start (its 20 s default is too short on a busy 2-core
# machine). An explicit setting in the environment wins.
apply_offline_defaults(
    PREFECT_LOGGING_EXTRA_LOGGERS="collapse_guard",
    PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW="ignore",
    MLFLOW_LOGGING_LEVEL="WARNING",
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
)

app = new_app(
    "Guard generative models against collapse when they retrain on synthetic data: accumulate "
    "around a non-shrinking real anchor, label provenance, curate, and gate every mixture before "
    "training.\n\nTypical use: `collapse-guard init`, then `collapse-guard run --generations 3` "
    "on a schedule, and `collapse-guard audit show` to see what a model was trained on.\n\n" + EXIT_CODE_HELP,
    ConsoleScript,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.callback()(debug_option)
add_commands(
    app,
    workspace.init,
    workspace.status,
    retraining.run,
    retraining.serve,
    retraining.experiment,
    data.ingest,
    data.detect,
    champion.promote,
    champion.rollback,
    external.check,
    external.record_model,
)

audit_app = new_app("Review and verify the append-only audit ledger.")
add_commands(
    audit_app,
    audit.verify,
    audit.export,
    audit.report,
    audit.show,
    audit.rotate_key,
    names={audit.rotate_key: "rotate-key"},
)
app.add_typer(audit_app, name="audit")

__all__ = ["app"]
