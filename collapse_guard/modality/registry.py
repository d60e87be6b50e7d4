"""``data.modality`` -> the class that implements it. Imported lazily, so the interface imports no modality
and a third modality is one line here (and its name in ``collapse_guard.config.ModalityName``)."""

from __future__ import annotations

import importlib

from collapse_guard.config import Params
from collapse_guard.modality.base import Modality

MODALITIES: dict[str, str] = {
    "tabular": "collapse_guard.tabular.modality:TabularModality",
    "text": "collapse_guard.text.modality:TextModality",
}


def modality_for(params: Params) -> Modality:
    """The modality ``data.modality`` names, built from ``params``."""
    module, _, name = MODALITIES[params.data.modality].partition(":")
    return getattr(importlib.import_module(module), name)(params)
