"""Validation at the door: real data is checked before it becomes anchor, because the anchor only grows.

A bad table that got in could never be taken out again (the anchor is append-only), and every later
``run`` would be refused by the gate. So ``init`` and ``ingest`` validate a table with the ``incoming``
suite in expectations/ (GX, the same plain sentences as the gate) before anything is written: too few
rows for the holdout split and the metrics, columns that are not the anchor's (order does not matter),
missing, infinite or mistyped values, an all-missing or a constant column, a row index left by a CSV
writer, provenance columns of its own. Checks GX cannot express per table are derived here as ``_``
columns whose value names the offending column (``""`` when the row is fine), so a refusal names the
file, the rule, the column and the first offending rows.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.config import Params
from collapse_guard.errors import DataError
from collapse_guard.pipeline import gate
from collapse_guard.records.provenance import PROVENANCE_COLUMNS

# A feature's magnitude above this cannot be trained on: the standardisation every model starts with squares the
# values, and 10^150 squared over 10^8 rows still fits a float64 (10^308); one order of magnitude more does not.
MAX_MAGNITUDE = 1e150
MIN_HELD_OUT_ROWS = 10  # the held-out split must hold this many records for the held-out metrics to mean anything
_WRITER_INDEX = re.compile(r"^(Unnamed: \d+|index|level_\d+)$")
FLAGS: tuple[str, ...] = (
    "_missing_in",
    "_nonfinite_in",
    "_out_of_range_in",
    "_mistyped_in",
    "_empty_column",
    "_constant_column",
    "_index_column",
    "_provenance_column",
)


def min_initial_rows(params: Params) -> int:
    """Rows a first anchor needs: enough that the held-out split gets ``MIN_HELD_OUT_ROWS`` records."""
    return math.ceil(MIN_HELD_OUT_ROWS / params.data.holdout_fraction)


def admit_initial(params: Params, path: Path) -> None:
    """Validate the table ``data.source`` names before it becomes the first anchor; DataError (exit 3) if not."""
    frame = read_table(path)
    _refuse_on(params, path, frame, expected=None, min_rows=min_initial_rows(params))


def admit_incoming(params: Params, path: Path, anchor: pd.DataFrame, features: list[str]) -> None:
    """Validate a table for ``ingest`` against the anchor's features (names and types; any order)."""
    frame = read_table(path)
    _refuse_on(params, path, frame, expected=anchor[features], min_rows=1)


def read_table(path: Path) -> pd.DataFrame:
    """The table as pandas reads it, after refusing duplicated column names (pandas would rename them)."""
    from collapse_guard.records.anchor import read_records

    path = Path(path)
    header = _csv_header(path) if path.suffix.lower() == ".csv" and path.is_file() else []
    frame = read_records(path)
    names = header or [str(c) for c in frame.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"column names appear more than once: {repeated}", path=str(path))
    return frame


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the CSV header ({exc})", path=str(path)) from exc


def _refuse_on(params: Params, path: Path, frame: pd.DataFrame, expected: pd.DataFrame | None, min_rows: int) -> None:
    failures = incoming_failures(
        frame, expected, min_rows, params.resolve(params.paths.expectations_dir), file=Path(path).name
    )
    if failures:
        lines = "\n".join(f"  {failure}" for failure in failures)
        raise DataError(
            f"real data refused at the door ({len(failures)} rule(s) of the incoming suite failed; "
            f"nothing was written):\n{lines}\n",
            path=str(path),
        )


def incoming_failures(
    frame: pd.DataFrame, expected: pd.DataFrame | None, min_rows: int, expectations_dir: Path, file: str
) -> list[gate.GateFailure]:
    """What the ``incoming`` suites find wrong with ``frame`` (``expected``: the anchor's features, or None)."""
    checked = pd.concat([frame.reset_index(drop=True), door_flags(frame, expected)], axis=1)
    columns = list(expected.columns) if expected is not None else [str(c) for c in frame.columns]
    return gate.check_frame(
        checked,
        applies_to="incoming",
        expectations_dir=expectations_dir,
        parameters={"min_incoming_rows": min_rows, "incoming_columns": [*columns, *FLAGS]},
        default_file=file,
    )


def door_flags(frame: pd.DataFrame, expected: pd.DataFrame | None) -> pd.DataFrame:
    """Per row, the first column that breaks each rule (``"column 'x'"``), or ``""``.

    Column-wide rules (an empty, constant or index column) name the column on every row. ``expected`` is the
    anchor's features (their dtypes decide what a value must be); without it a column is numeric when most
    of its values are numbers, and a constant column is refused (a first anchor must vary).
    """
    n = len(frame)
    columns = [c for c in frame.columns if expected is None or c in expected.columns]
    numeric_expected = {c: _expects_number(frame[c], None if expected is None else expected[c]) for c in columns}
    flags = {
        "_missing_in": _first_per_row(frame, columns, lambda s: s.isna().to_numpy()),
        "_nonfinite_in": _first_per_row(frame, columns, _infinite),
        "_out_of_range_in": _first_per_row(frame, columns, _beyond_trainable),
        "_mistyped_in": _first_per_row(
            frame, columns, lambda s: _mistyped(s, numeric_expected[s.name], expected, s.name)
        ),
        "_empty_column": _first_column(columns, lambda c: n > 0 and bool(frame[c].isna().all())),
        "_constant_column": _first_column(
            columns, lambda c: expected is None and n > 1 and frame[c].nunique(dropna=True) == 1
        ),
        "_index_column": _first_column(
            list(frame.columns), lambda c: _looks_like_index(frame[c], expected is not None and c in expected)
        ),
        "_provenance_column": _first_column(list(frame.columns), lambda c: c in PROVENANCE_COLUMNS),
    }
    return pd.DataFrame({name: _broadcast(value, n) for name, value in flags.items()})


def _broadcast(value: np.ndarray | str, n: int) -> np.ndarray:
    return np.full(n, value, dtype=object) if isinstance(value, str) else value


def _first_per_row(frame: pd.DataFrame, columns: list, breaks) -> np.ndarray:
    named = np.full(len(frame), "", dtype=object)
    for column in reversed(columns):  # the leftmost offending column wins
        named[breaks(frame[column])] = f"column '{column}'"
    return named


def _first_column(columns: list, breaks) -> str:
    return next((f"column '{c}'" for c in columns if breaks(c)), "")


def _infinite(values: pd.Series) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return np.zeros(len(values), dtype=bool)
    return np.isinf(values.to_numpy(dtype=np.float64))


def _beyond_trainable(values: pd.Series) -> np.ndarray:
    """A finite number too large to train on (``MAX_MAGNITUDE``): scaling it overflows to infinity."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return np.zeros(len(values), dtype=bool)
    numbers = values.to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(numbers) & (np.abs(numbers) > MAX_MAGNITUDE)


def _expects_number(values: pd.Series, anchor_column: pd.Series | None) -> bool:
    """The anchor's type decides; without an anchor, a column whose values are mostly numbers is numeric."""
    if anchor_column is not None:
        return pd.api.types.is_numeric_dtype(anchor_column) and not pd.api.types.is_bool_dtype(anchor_column)
    if pd.api.types.is_numeric_dtype(values):
        return True
    present = values.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().mean() > 0.5


def _mistyped(values: pd.Series, numeric: bool, expected: pd.DataFrame | None, column: str) -> np.ndarray:
    """A value that is not of its column's type: text in a number column, a fraction in a whole-number one."""
    if not numeric:
        return np.zeros(len(values), dtype=bool)
    numbers = pd.to_numeric(values, errors="coerce")
    wrong = (numbers.isna() & values.notna()).to_numpy()
    if expected is not None and pd.api.types.is_integer_dtype(expected[column]):
        as_float = numbers.to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            wrong |= np.isfinite(as_float) & (as_float != np.round(as_float))
    return wrong


def _looks_like_index(values: pd.Series, is_anchor_feature: bool) -> bool:
    """A column a CSV writer left behind: named like pandas' index, or 0, 1, 2, ... row for row."""
    if is_anchor_feature:
        return False
    if _WRITER_INDEX.match(str(values.name)) or str(values.name).strip() == "":
        return True
    if len(values) < 3 or not pd.api.types.is_integer_dtype(values):
        return False
    return bool((values.to_numpy() == np.arange(len(values))).all())
