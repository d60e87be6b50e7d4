"""A screened crawl's outputs, written batch by batch as the verdicts come, so that neither the documents nor
the verdicts of a crawl of millions sit in memory.

Two files: the verdicts (Parquet, one row per document: ``line``, ``reason`` — "" to keep — and the match and
watermark evidence of collapse_guard.text.screening.triage_table) and the quarantine (JSONL, the turned-away
documents with their text and reason, as ``ingest`` quarantines). Each is written to a temp file beside its
target and renamed over it only when the whole crawl is through (collapse_guard.records.atomic): a crawl
that fails half-way (a malformed line, a killed run) leaves the previous outputs, never half of new ones.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from types import TracebackType

import pandas as pd

from collapse_guard.records import atomic
from collapse_guard.text.corpus import TEXT

_SCHEMA = {
    "line": "int64",
    "reason": "string",
    "matched_in": "string",
    "duplicate_of": "int64",
    "similarity": "float64",
    "z": "float64",
    "window_z": "float64",
    "key_id": "string",
}


class ScreeningOutput:
    """``with ScreeningOutput(verdicts_path, quarantine_path) as out: out.write(batch, table)`` per batch, in
    crawl order; ``out.summary()`` counts what was written."""

    def __init__(self, verdicts: Path, quarantine: Path) -> None:
        self.verdicts_path, self.quarantine_path = Path(verdicts), Path(quarantine)
        self.documents = 0
        self.reasons: Counter[str] = Counter()
        self._stack = contextlib.ExitStack()
        self._writer = None
        self._quarantine = None

    def __enter__(self) -> ScreeningOutput:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with self._stack as stack:
            verdicts_tmp = stack.enter_context(atomic.atomic_path(self.verdicts_path))
            self._quarantine = stack.enter_context(atomic.atomic_open(self.quarantine_path, "w"))
            schema = pa.Schema.from_pandas(pd.DataFrame({c: pd.Series(dtype=t) for c, t in _SCHEMA.items()}))
            self._writer = pq.ParquetWriter(verdicts_tmp, schema.remove_metadata())
            stack.callback(self._writer.close)  # closed before the temp file is renamed
            self._stack = stack.pop_all()
        return self

    def write(self, batch: pd.DataFrame, table: pd.DataFrame) -> None:
        """Append one batch: ``batch`` has the documents' ``text`` and ``line``, ``table`` their verdicts."""
        import pyarrow as pa

        frame = table.assign(line=batch["line"].to_numpy())[list(_SCHEMA)].astype(_SCHEMA)
        self._writer.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata())
        away = frame["reason"].to_numpy() != ""
        if away.any():
            rejected = frame[away].assign(text=batch[TEXT].to_numpy()[away])
            self._quarantine.write(rejected.to_json(orient="records", lines=True, force_ascii=False))
        self.documents += len(frame)
        self.reasons.update(frame["reason"][away].tolist())

    def summary(self) -> dict:
        return {
            "documents": self.documents,
            "kept": self.documents - sum(self.reasons.values()),
            "turned_away": dict(sorted(self.reasons.items())),
            "verdicts": str(self.verdicts_path),
            "quarantine": str(self.quarantine_path),
        }

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool | None:
        return self._stack.__exit__(kind, error, traceback)
