"""Environment defaults for machines without internet: no telemetry, no analytics, no chatter.

Set before Prefect, GX, MLflow or DVC are imported; an explicit setting in the environment wins.
"""

from __future__ import annotations

import os

OFFLINE_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "DVC_NO_ANALYTICS": "1",
}


def apply_offline_defaults(**extra: str) -> None:
    for name, value in {**OFFLINE_DEFAULTS, **extra}.items():
        os.environ.setdefault(name, value)
