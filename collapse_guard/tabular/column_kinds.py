"""The type and range of each table column, so synthetic data keeps them.

A real table's whole-number columns (a 1-5 rating, a count) sampled as floats outside the real range (a
rating of 0.897) are not the data the user has, and every drift test then flags them. The default model
records each column's kind here when it is fitted and restores it on every sample: a boolean column, or a
numeric one with at most ``MAX_DISCRETE_LEVELS`` values, is discrete (modelled as levels, so only real values
come back), a wider integer column is rounded and clipped to its observed range, a share (within [0, 1]) or a
non-negative column is clipped to that bound.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_DISCRETE_LEVELS = 12  # a numeric column with at most this many distinct values is modelled as levels


def column_kinds(features: pd.DataFrame) -> dict[str, dict]:
    """Per numeric column: ``kind`` (integer, boolean, float), ``discrete``, and the ``low``/``high`` to clip to
    (None: unbounded). Plain values, so a saved model needs nothing to read them back."""
    kinds = {}
    for column in features.columns:
        values = features[column]
        if pd.api.types.is_bool_dtype(values):
            kinds[column] = {"kind": "boolean", "discrete": True, "low": None, "high": None}
        elif pd.api.types.is_integer_dtype(values):
            low, high = float(values.min()), float(values.max())
            discrete = values.nunique() <= MAX_DISCRETE_LEVELS
            kinds[column] = {"kind": "integer", "discrete": bool(discrete), "low": low, "high": high}
        elif pd.api.types.is_numeric_dtype(values):
            low, high = float(values.min()), float(values.max())
            kinds[column] = {
                "kind": "float",
                "discrete": bool(values.nunique() <= MAX_DISCRETE_LEVELS),  # e.g. number of children 0..5.5
                "low": 0.0 if low >= 0 else None,
                "high": 1.0 if low >= 0 and high <= 1 else None,
            }
    return kinds


def restore_kinds(samples: pd.DataFrame, kinds: dict[str, dict]) -> pd.DataFrame:
    """``samples`` with every recorded column back to its type and within its bounds."""
    out = samples.copy()
    for column, kind in kinds.items():
        if column not in out:
            continue
        values = out[column]
        if kind["kind"] == "boolean":
            out[column] = values.astype(str).eq("True") if kind["discrete"] else values.astype(float) > 0.5
        elif kind["kind"] == "integer":
            numbers = pd.to_numeric(values).to_numpy(dtype=np.float64)
            out[column] = np.clip(np.round(numbers), kind["low"], kind["high"]).astype(np.int64)
        else:
            numbers = pd.to_numeric(values).to_numpy(dtype=np.float64)
            out[column] = np.clip(numbers, kind["low"], kind["high"])
    return out


def kind_breaches(frame: pd.DataFrame, kinds: dict[str, dict]) -> np.ndarray:
    """Per row, the first column whose value breaks its recorded kind (a fraction in an integer column, a value
    outside the range), as ``"column 'x'"``, or ``""``: the check the gate runs on synthetic records."""
    named = np.full(len(frame), "", dtype=object)
    for column in reversed(list(kinds)):
        if column not in frame:
            continue
        kind = kinds[column]
        numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            bad = np.zeros(len(frame), dtype=bool)
            if kind["kind"] in ("integer", "boolean"):
                bad |= np.isfinite(numbers) & (numbers != np.round(numbers))
            if kind["low"] is not None:
                bad |= numbers < kind["low"]
            if kind["high"] is not None:
                bad |= numbers > kind["high"]
        named[bad] = f"column '{column}'"
    return named


def kind_flags(kinds: dict[str, dict]):
    """The gate's derived column for a frame: ``_kind_breach`` per row (see ``kind_breaches``)."""

    def make(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"_kind_breach": kind_breaches(frame, kinds)}, index=frame.index)

    return make
