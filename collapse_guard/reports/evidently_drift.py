"""Evidently's data-drift preset, with or without its page: what ``evaluation.drift_report`` chooses.

Imports Evidently at module level: import this only where a drift report is made.
"""

from __future__ import annotations

from typing import Any

from evidently.presets import DataDriftPreset

from collapse_guard.config import DriftReportMode


class DriftNumbers(DataDriftPreset):
    """``DataDriftPreset``'s metrics (the count of drifted columns and each column's drift score, so the same
    numbers) without the preset's own summary: its drift table draws a chart per column, about half of the
    report's time on a wide table, for a page nobody will open when no page is written."""

    def render(self, context: Any, child_widgets: Any = None) -> list:
        return []


def data_drift_preset(mode: DriftReportMode, **options: Any) -> DataDriftPreset:
    """The preset for ``mode``: the full one for a page (``html``), the numbers only otherwise."""
    return DataDriftPreset(**options) if mode == "html" else DriftNumbers(**options)
