"""Every kind of entry the audit ledger holds: who writes it, what it means, and each field of its body.

This is the ledger's reference (the docs site's ledger page is generated from it) and a contract the tests hold the
code to: every kind the code appends is listed here, and every field a recorded entry carries is described
(tests/ledger_kinds.py checks real ledgers written by the end-to-end tests). Each entry also has the envelope
``seq``, ``kind``, ``at`` (UTC, ISO 8601), ``body``, ``prev`` (the hash of the entry before) and ``hash``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ANCHOR = "the anchor as recorded: rows, digest (sha256 over the record ids, in order) and DVC md5"
MIXTURE = (
    "the training mixture: policy, rows, real, synthetic, real_fraction, target_real_fraction and the "
    "policy's reason (adaptive-ratio)"
)
APPLIED = (
    "what the verdict applied: parameters (every $PARAMETER value filled), sources (where each came from, e.g. "
    "'params.yaml gate.min_real_fraction') and suites (each suite's name and the sha256 of its JSON file)"
)
# Any kind: the first entry of a signed ledger names the key that signs it (collapse_guard/records/keychain.py).
COMMON_FIELDS: dict[str, str] = {
    "signing_key": "only on a signed ledger's first entry: the signing key's fingerprint and public key (PEM)",
}


@dataclass(frozen=True)
class EntryKind:
    name: str
    written_by: str  # the command or pipeline step that appends it
    means: str
    fields: dict[str, str] = field(default_factory=dict)  # body field -> what it holds


KINDS: dict[str, EntryKind] = {
    kind.name: kind
    for kind in (
        EntryKind(
            "anchor_initialised",
            "init",
            "the first real anchor was created (from the embedded default or data.source) and versioned",
            {
                "anchor": ANCHOR,
                "path": "the anchor's folder in the workspace",
                "origin": "where its records came from (the embedded default and its seed, or the source file)",
                "source": "the source file's name, when data.source names a file",
                "source_sha256": "the source file's sha256 (a later ingest of the same bytes is refused)",
            },
        ),
        EntryKind(
            "anchor_ingested",
            "ingest",
            "new real records were appended to the anchor (it only grows)",
            {
                "source": "the ingested file's name",
                "source_sha256": "sha256 of the file's bytes (a folder of .txt: over names and each file's sha256)",
                "source_rows": "records the file held",
                "allow_same_file": "whether --allow-same-file allowed bytes ingested before",
                "same_file_ingested_at": "the ledger lines that ingested the same bytes before (when allowed)",
                "added": "records appended",
                "repeated": "incoming records equal to records already in the anchor",
                "repeated_kept": "whether those were kept as records of their own (not --drop-repeated)",
                "rejected": "records turned away at screening, by reason (text: watermarked, near-duplicate)",
                "quarantine": "the file the turned-away records were written to ('' when none)",
                "anchor": ANCHOR + ", after the append",
            },
        ),
        EntryKind(
            "anchor_migrated",
            "init / run",
            "a single-file anchor became a dataset of one part (same records, same digest)",
            {"anchor": ANCHOR, "path": "the anchor's folder", "from": "the old layout and its DVC md5"},
        ),
        EntryKind(
            "anchor_restored",
            "init / run / ingest",
            "a missing or altered anchor was restored from DVC to its last recorded version",
            {"anchor": ANCHOR + " (the version restored)", "reason": "what was wrong and what was done"},
        ),
        EntryKind(
            "dvc_remote_changed",
            "init / run",
            "tracking.dvc_remote changed in params.yaml and was applied: pushes go to the new remote",
            {"from": "the remote before", "to": "the remote now"},
        ),
        EntryKind(
            "run_started",
            "run (and each scheduled run)",
            "a run of guarded generations began",
            {
                "run": "the run's id (every entry of the run names it)",
                "mlflow_run_id": "the run's MLflow parent run",
                "generations": "guarded generations requested",
                "params": "every validated params.yaml value the run used",
                "runtime": "versions of Python and the libraries, threads and seeds (what reproduces the run)",
            },
        ),
        EntryKind(
            "gate_verdict",
            "run: the gate step",
            "the gate validated a mixture: passed, or blocked (nothing was trained on it)",
            {
                "run": "the run's id",
                "generation": "the generation the mixture was for",
                "verdict": "passed or blocked",
                "failures": "each failed check in the operator's words, with the file(s) it names",
                "anchor_observed": ANCHOR + ", as the gate read it",
                "mixture": MIXTURE,
                "mlflow_run_id": "the generation's MLflow run",
                "applied": APPLIED,
            },
        ),
        EntryKind(
            "generation_recorded",
            "run: the record step",
            "a generation's model was trained on a passed mixture, evaluated, signed, versioned and recorded",
            {
                "run": "the run's id",
                "generation": "the generation",
                "model_id": "genNNN-<md5 of the model file, 12 hex>",
                "model_class": "the Generator class (package.module:Class)",
                "model_path": "the model file in the generation's folder",
                "parent_model_id": "the model whose samples it was trained on ('' for generation 0)",
                "anchor": ANCHOR,
                "mixture": MIXTURE + ", its file and its digest (sha256 over record ids)",
                "curation": "records generated, kept and dropped by reason (none for generation 0)",
                "metrics": "every collapse metric of the model, by name (docs: reference/metrics)",
                "dvc_md5": "the DVC md5 of the generation's folder",
                "mlflow_run_id": "the generation's MLflow run",
                "forecast_settings": "the forecast: section the run used (the audit page forecasts with it)",
                "trained": "'elsewhere' for a model trained outside the flow and recorded by record-model",
                "model_sha256": "record-model: the sha256 of the model file recorded",
                "gate": "record-model: the passed verdict it rests on (kind, ledger line, verdict)",
                "registered_model": "record-model: the MLflow registered model it was registered in",
                "version": "record-model: its registry version",
                "recorded_by": "record-model: who recorded it (command or Python API)",
            },
        ),
        EntryKind(
            "mixture_checked",
            "check (or Guard.check from Python)",
            "the gate's suites ran on a mixture built outside the flow: passed or blocked (record-model needs a pass)",
            {
                "verdict": "passed or blocked",
                "failures": "each failed check in the operator's words, with the file(s) it names",
                "anchor_observed": ANCHOR + ", as the check read it (read-only)",
                "mixture": "the mixture checked: its file(s), sha256, record-id digest, rows, real, synthetic, "
                "real_fraction and the column mapping used",
                "mlflow_run_id": "the check's MLflow run",
                "gate_json": "the verdict's gate.json (GX's page is beside it)",
                "by": "check (the command) or the Python API",
                "applied": APPLIED,
            },
        ),
        EntryKind(
            "model_promoted",
            "run: the promotion step",
            "the promotion check passed: the alias champion moved to this model",
            {
                "generation": "the generation",
                "model_id": "its model id",
                "registered_model": "the MLflow registered model (promotion.model_name)",
                "version": "the registry version of this model",
                "role": "champion",
                "reasons": "why, in the operator's words",
                "champion_before": "the version that was champion before ('' or none when there was none)",
                "by": "check",
                "applied": APPLIED + " (empty when there was no champion to compare with)",
            },
        ),
        EntryKind(
            "promotion_refused",
            "run: the promotion step",
            "the promotion check failed: the model stays a candidate and an alert is sent",
            {
                "generation": "the generation",
                "model_id": "its model id",
                "registered_model": "the MLflow registered model",
                "version": "the registry version of this model",
                "role": "candidate",
                "reasons": "each tolerance exceeded, in the operator's words, and the metrics compared",
                "champion_before": "the champion it was compared with",
                "by": "check",
                "applied": APPLIED,
            },
        ),
        EntryKind(
            "champion_moved",
            "promote / rollback",
            "the alias champion was moved by hand (rollback walks back the history these entries make)",
            {
                "generation": "the generation of the new champion",
                "registered_model": "the MLflow registered model",
                "version": "the registry version of the new champion",
                "champion_before": "the version that was champion",
                "generation_before": "its generation",
                "by": "promote or rollback",
                "reason": "the --reason given",
            },
        ),
        EntryKind(
            "run_finished",
            "run",
            "a run ended: completed, or blocked (its error says why)",
            {
                "run": "the run's id",
                "status": "completed or blocked",
                "generations_completed": "the generations it recorded",
                "error": "the named cause that stopped it ('' when completed)",
            },
        ),
        EntryKind(
            "safe_fraction_certified",
            "experiment --safe-zone",
            "the smallest real fraction that keeps the headline metrics within tolerance of generation 0 was found "
            "for this anchor and model (gate.min_real_fraction: auto uses it, plus gate.auto_margin)",
            {
                "r_star": "the certified smallest safe real fraction",
                "interval": "its confidence interval [low, high]",
                "anchor": ANCHOR + ", the certificate is for",
                "model_class": "the model class it is for",
                "model_options": "the model options it is for",
                "modality": "the data modality",
                "metrics": "the headline metrics kept within the tolerance",
                "tolerance": "how far each may move from generation 0",
                "generations": "generations G each chain ran",
                "confidence": "the interval's confidence",
                "step": "the real-fraction grid step searched",
                "seeds": "the seeds of the chains run",
                "synthetic_per_generation": "samples per generation in each chain",
                "decoding": "the decoding the chains sampled with",
                "fits": "model fits the search used",
                "sweep_fits": "model fits the full sweep would use",
                "probes": "every real fraction tried, with each seed's outcome",
                "mlflow_run_id": "the search's MLflow run",
                "figure": "the figure of the metrics against the real fraction, r* marked",
            },
        ),
        EntryKind(
            "signing_key_recorded",
            "init / the first signed append / audit rotate-key (adopting signing)",
            "the key that signs this ledger from here on, recorded",
            {"signing_key": "the key's fingerprint and public key (PEM)", "reason": "first use, or adopted"},
        ),
        EntryKind(
            "signing_key_rotated",
            "audit rotate-key",
            "the signing key was changed, endorsed by the old key (a signed rotation statement)",
            {
                "signing_key": "the new key's fingerprint and public key (PEM)",
                "previous": "the old key's fingerprint",
                "statement": "the rotation statement's file, signed by the old key",
                "statement_sha256": "the SHA-256 of that statement (a swapped statement file does not verify)",
                "reason": "the --reason given",
            },
        ),
        EntryKind(
            "watermark_key_rotated",
            "audit rotate-key --watermark",
            "the text watermark key was changed; the old key is retired and still screened",
            {
                "previous": "the old key's id",
                "next": "the new key's id",
                "retired_key_file": "where the retired key is kept (secret, git-ignored)",
                "reason": "the --reason given",
            },
        ),
        EntryKind(
            "ledger_recovered",
            "any command that appends, after a crash",
            "a crash left an append unfinished: a torn line was cut, or a complete line adopted, and said so",
            {"recovery": "what was found and what was done"},
        ),
    )
}


def undocumented_fields(entry: dict) -> list[str]:
    """The body fields of a recorded ``entry`` its kind does not describe (and the kind itself, if unknown)."""
    kind = KINDS.get(entry.get("kind", ""))
    if kind is None:
        return [f"kind {entry.get('kind')!r}"]
    body = entry.get("body") or {}
    return sorted(name for name in body if name not in kind.fields and name not in COMMON_FIELDS)
