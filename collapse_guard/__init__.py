"""collapse-guard: keep generative models healthy when they retrain on their own outputs.

The package is plain Python (no Prefect): `tasks/` wraps it as Prefect tasks and `flows/` composes
those. Heavy libraries (GX, Evidently, MLflow, torch, DVC) are imported inside the functions that
need them so that `collapse-guard --help` stays instant.

For a pipeline collapse-guard did not build, ``collapse_guard.Guard`` gates its mixtures and records its
models (collapse_guard/guard.py; loaded on first use, so ``import collapse_guard`` stays light). The errors it
raises are ``collapse_guard.errors``' classes, each with its command-line exit code.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["CheckResult", "Guard", "RecordedModel", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Guard", "CheckResult", "RecordedModel"):
        from collapse_guard import guard

        return getattr(guard, name)
    raise AttributeError(f"module 'collapse_guard' has no attribute {name!r}")
