"""What a run ran on, and the torch settings that make the built-in models' fits repeat bit for bit.

Two fits of the default mixture model on the same mixture with 2 intra-op threads landed up to 2 standard
deviations apart (parallel reductions add in a different order each time); with 1 thread they match. So the
built-in models train with a thread count chosen in params (``model.options.threads``, default 1) and torch's
deterministic algorithms, and every run's ledger entry says which versions and thread counts it used.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterator
from importlib import metadata

# The libraries whose versions can change a model or a metric.
LIBRARIES = ("collapse-guard", "torch", "numpy", "pandas", "scipy", "pyarrow", "mlflow", "prefect", "dvc")


@contextlib.contextmanager
def deterministic_torch(threads: int = 1) -> Iterator[None]:
    """Run torch with ``threads`` intra-op threads (0: leave torch's setting) and deterministic algorithms,
    then restore both: the caller's process is left as it was."""
    import torch

    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    if threads > 0:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        torch.set_num_threads(threads_before)


def describe(seed: int, model_options: dict) -> dict:
    """Seeds, library versions and thread counts: what an auditor needs to reproduce a run."""
    return {
        "seed": seed,
        "seed_schedule": "generate/train = seed*1000+g, mix = +250, evaluate = +500",
        "model_threads": model_options.get("threads", 1),
        "torch_threads": _torch_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
