"""Record-level binding: every record labelled real is in the (signed) anchor, every synthetic record in a
(signed) synthetic batch.

Signatures stop a batch changed without the key before it is read (collapse_guard.pipeline.trust); this check
sits behind them in the gate, for what a key holder (or a bug) could still do: a record relabelled ``real``
that no anchor version holds, or a synthetic record that no batch produced, blocks the mixture, naming the
file and the records.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.pipeline.gate import GateFailure
from collapse_guard.pipeline.mixing import FILE_COLUMN
from collapse_guard.records.anchor import read_records
from collapse_guard.records.provenance import REAL, RECORD_ID, SOURCE, SYNTHETIC


def batch_ids(batches: Iterable[Path]) -> set[str]:
    """The record ids of the synthetic batches (verified before the generation started, or made by it)."""
    ids: set[str] = set()
    for path in batches:
        if Path(path).is_file():
            ids.update(read_records(path)[RECORD_ID].astype(str))
    return ids


def binding_failures(
    mixture: pd.DataFrame, anchor_ids: Iterable[str], batch_ids: Iterable[str] | None, anchor_file: str
) -> list[GateFailure]:
    """One failure per kind of unbound record, naming the files they came from and up to three record ids.
    ``batch_ids`` None: the synthetic records were made outside the workspace (a mixture ``check`` reads), so no
    signed batch can hold them; only the real ones are bound (to the anchor)."""
    if SOURCE not in mixture or RECORD_ID not in mixture:
        return []
    ids = mixture[RECORD_ID].astype(str)
    unbound_real = (mixture[SOURCE] == REAL) & ~ids.isin(_as_strings(anchor_ids))
    unbound_synthetic = (
        (mixture[SOURCE] == SYNTHETIC) & ~ids.isin(_as_strings(batch_ids))
        if batch_ids is not None
        else pd.Series(False, index=mixture.index)
    )
    failures = []
    if unbound_real.any():
        failures.append(
            _failure(mixture, unbound_real, f"records labelled real are in the signed anchor ({anchor_file})")
        )
    if unbound_synthetic.any():
        failures.append(_failure(mixture, unbound_synthetic, "synthetic records come from a signed synthetic batch"))
    return failures


def _as_strings(ids: Iterable[str]) -> np.ndarray:
    """Ids as one array of str, which pandas looks up in a hash table (a Python set of a million ids is not)."""
    values = ids.to_numpy() if isinstance(ids, pd.Series) else np.array(list(ids), dtype=object)
    return pd.Series(values, dtype=object).astype(str).to_numpy(dtype=object)


def _failure(mixture: pd.DataFrame, mask: pd.Series, sentence: str) -> GateFailure:
    rows = mixture[mask]
    shown = ", ".join(str(r)[:12] for r in rows[RECORD_ID].head(3))
    files = sorted(rows[FILE_COLUMN].dropna().astype(str).unique().tolist()) if FILE_COLUMN in rows else []
    return GateFailure(
        suite="provenance",
        check="signed_binding",
        message=f"{sentence}: {int(mask.sum())} of {len(mixture)} rows are not (records {shown})",
        files=files,
    )
