"""A modality's per-record hashing on Dask, found by the modality's name, so that the guarded flow (a
generation's curation) and ``collapse-guard ingest`` (a crawl's screening) name no modality.

Why a table here and not a method of the modality: the hashing runs as Prefect tasks on a Dask cluster, which
live in this package (collapse_guard/ imports no Prefect), so the modality cannot build it; the modality's own
tasks module can. A modality whose curation and screening hash nothing (tabular) has no entry, and is handed
None.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any, Protocol

from collapse_guard.modality.base import Modality

# data.modality -> "module:factory", factory(modality) -> RecordHashing (imported when first asked for)
FACTORIES: dict[str, str] = {"text": "collapse_guard.tasks.text_screening:hashing_of"}


class RecordHashing(Protocol):
    """What the flow hands ``Modality.synthesize`` (called on a generation's records) and ingest hands
    ``Modality.incoming`` (``stream``, over a crawl's batches); each starts a cluster only for work big enough."""

    def __call__(self, *args: Any) -> Any: ...

    def stream(self, *args: Any) -> Iterator[Any]: ...


def record_hashing(modality: Modality) -> RecordHashing | None:
    """``modality``'s record hashing on Dask, or None if it hashes no records."""
    path = FACTORIES.get(modality.name)
    if path is None:
        return None
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)(modality)
