"""What a run ran on, and the torch settings that make the built-in models' fits repeat bit for bit.

Two fits of the default mixture model on the same mixture with 2 intra-op threads landed up to 2 standard
deviations apart (parallel reductions add in a different order each time); with 1 thread they match. So the
built-in models train with a thread count chosen in params (``model.options.threads``, default 1) and torch's
deterministic algorithms, and every run's ledger entry says which versions and thread counts it used.
"""

from __future__ import annotations

import contextlib
import ctypes
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


# glibc malloc: arrays of 256 KB and more get pages of their own, returned to the system when freed, and a heap
# top of more than 64 KB free is returned too (Dask's own setting for its workers; docs/benchmarks/scale-screening.md)
MMAP_THRESHOLD_BYTES = 256 << 10
TRIM_THRESHOLD_BYTES = 64 << 10
HEAP_ENVIRON = {
    "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES),
    "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD_BYTES),
}
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)


def return_freed_memory() -> bool:
    """Make this process give freed memory back (glibc; elsewhere a no-op returning False).

    Why: by default glibc raises its mmap threshold as large blocks are freed (up to 32 MB), so the arrays a
    long screening allocates and frees (batches, index merges) end up inside the heap, whose holes the
    process keeps. Screening 10M documents on two workers held 1,050 MB in the flow's process this way,
    860 MB with a fixed threshold, at no measured CPU cost. Only memory allocated afterwards is affected, and
    only crawl screening sets it (``DaskHashing.stream``): a loop allocating the same large temporary over and
    over pays a fresh mapping each time (3-8x slower in a micro-benchmark), so it is not a process-wide default."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


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
