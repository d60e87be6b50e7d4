"""collapse-guard: keep generative models healthy when they retrain on their own outputs.

The package is plain Python (no Prefect): `tasks/` wraps it as Prefect tasks and `flows/` composes
those. Heavy libraries (GX, Evidently, MLflow, torch, DVC) are imported inside the functions that
need them so that `collapse-guard --help` stays instant.
"""

__version__ = "0.1.0"
