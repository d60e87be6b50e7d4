"""``data.modality`` -> what implements it: its params (the shared sections and its own) and its ``Modality``.

The one list of modalities. Everything below it (collapse_guard.config, records, the interface in
collapse_guard.modality.base) names none, so a third modality is a folder beside tabular/ and text/ with its
``Params`` subclass and its ``Modality``, and one entry here. A params file is loaded here, not in
collapse_guard.config, because which class validates it depends on the modality it names.

A modality's ``Modality`` is imported when it is first built (models, metrics, Evidently: heavy); its params
class is imported with this module (pydantic only), so loading params stays quick.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import create_model

from collapse_guard.config import DataParams, Params, read_params, validate_params
from collapse_guard.errors import ConfigError
from collapse_guard.generator import check_generator_class
from collapse_guard.tabular.params import ParamsWithTabular
from collapse_guard.text.params import ParamsWithText

if TYPE_CHECKING:
    from collapse_guard.modality.base import Modality


@dataclass(frozen=True)
class Registered:
    """One modality: the class its params.yaml is validated as, and its ``Modality`` (``module:Class``)."""

    params: type[Params]
    implementation: str


MODALITIES: dict[str, Registered] = {
    "tabular": Registered(ParamsWithTabular, "collapse_guard.tabular.modality:TabularModality"),
    "text": Registered(ParamsWithText, "collapse_guard.text.modality:TextModality"),
}


def params_class(modality: str) -> type[Params]:
    """The class a params file whose ``data.modality`` is ``modality`` is validated as."""
    return MODALITIES[modality].params


def load_params(path: Path | str = "params.yaml", overrides: dict | None = None) -> Params:
    """Read and validate params.yaml as the params of the modality its ``data.modality`` names (default:
    tabular); ``overrides`` are dotted keys (``{"mixing.policy": "replace"}``). A section of another
    registered modality may stay in the file (e.g. while switching ``data.modality``): it is checked like the
    rest, and left out of the params returned. An unknown modality is a ConfigError naming the known ones."""
    path, raw = read_params(path, overrides)
    name = _modality_named(raw, path)
    params = params_class(name).of(validate_params(_every_section(), raw, path))
    check_generator_class(params.model.class_path, params.source_file)
    return params


def every_section() -> type[Params]:
    """The params model with every registered modality's own section (what a params file may hold)."""
    return _every_section()


def modality_for(params: Params) -> Modality:
    """The modality ``data.modality`` names, built from ``params``."""
    module, _, name = MODALITIES[params.data.modality].implementation.partition(":")
    return getattr(importlib.import_module(module), name)(params)


def _modality_named(raw: dict, path: Path) -> str:
    data = raw.get("data")
    name = data.get("modality", DataParams().modality) if isinstance(data, dict) else DataParams().modality
    if not isinstance(name, str) or name not in MODALITIES:
        known = ", ".join(repr(known) for known in MODALITIES)
        raise ConfigError(f"invalid params: data.modality: {name!r} is not a modality (one of {known})", path=str(path))
    return name


@cache
def _every_section() -> type[Params]:
    """``Params`` with every registered modality's own section: what a params file may hold."""
    own = {
        name: (field.annotation, field)
        for registered in MODALITIES.values()
        for name, field in registered.params.model_fields.items()
        if name not in Params.model_fields
    }
    return create_model("ParamsOfEveryModality", __base__=Params, **own)
