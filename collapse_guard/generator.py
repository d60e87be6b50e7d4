"""The generator interface: fit, sample (with decoding controls), loss, save, load.

A user's model plugs in by naming it in params.yaml (``model.class: my_pkg.my_mod:MyModel``); its
constructor receives ``model.options``. Nothing else in the pipeline knows which model it runs.
"""

from __future__ import annotations

import abc
import importlib
from pathlib import Path
from typing import Any

import pandas as pd

from collapse_guard.config import DecodingParams, ModelParams
from collapse_guard.errors import ConfigError, DataError


class Generator(abc.ABC):
    """A generative model of records' features (provenance columns never reach it)."""

    @abc.abstractmethod
    def fit(self, features: pd.DataFrame, seed: int) -> None:
        """Train from scratch on ``features``."""

    @abc.abstractmethod
    def sample(self, n: int, decoding: DecodingParams, seed: int) -> pd.DataFrame:
        """Draw ``n`` records with the same columns as the training features."""

    @abc.abstractmethod
    def loss(self, features: pd.DataFrame) -> float:
        """Mean negative log-likelihood per record (nats), or the model's own loss: lower is better."""

    @abc.abstractmethod
    def save(self, path: Path) -> None:
        """Write everything needed to ``load`` the model again."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path: Path) -> Generator:
        """Read a model written by ``save``.

        The contract (a model file is data an attacker with write access to the workspace can craft):
        ``load`` must not execute code from the file: no ``pickle``, no ``torch.load(weights_only=False)``,
        no ``numpy.load(allow_pickle=True)``; use ``torch.load(weights_only=True)`` on a dict of tensors and
        plain values, safetensors, or JSON. A file it cannot read raises
        ``collapse_guard.errors.DataError`` naming it (any other exception is turned into one by
        ``load_generator``). The pipeline verifies the generation's signature before it calls ``load``.
        """

    def diagnostics(self) -> dict[str, float]:
        """Numbers only the model knows (e.g. its smallest mixture weight, its fitted variance): logged with
        the collapse metrics, and what the theory checks compare with closed forms."""
        return {}

    @property
    def options(self) -> dict[str, Any]:
        """Constructor options, recorded with every run."""
        return {}


def write_model_file(path: Path, payload: dict[str, Any]) -> None:
    """Save a model's tensors and plain values atomically, byte-identical for identical models: torch names the
    archive after the file it writes and the temp file's name is random, so it is saved through a buffer."""
    import io

    import torch

    from collapse_guard.records import atomic

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic.write_bytes(Path(path), buffer.getvalue())


def read_model_file(path: Path, save_format: str) -> dict[str, Any]:
    """What ``write_model_file`` saved, read the way ``Generator.load``'s contract asks (``weights_only=True``:
    a crafted file cannot run code); a file that is not a ``save_format`` file is a DataError naming it."""
    import torch

    try:
        saved = torch.load(Path(path), weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated, foreign or pickle-carrying file
        raise DataError(
            f"cannot load the model safely: the file is truncated or corrupt, or carries code "
            f"({type(exc).__name__}: {exc}). Restore it from DVC (`dvc checkout`) or start a fresh workspace",
            path=str(path),
        ) from exc
    if not isinstance(saved, dict) or saved.get("format") != save_format:
        raise DataError(f"not a {save_format} file", path=str(path))
    return saved


def _import_class(class_path: str, source_file: str | None = None) -> type[Generator]:
    module_name, _, class_name = class_path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except Exception as exc:  # the user's module may fail in any way while it is imported
        raise ConfigError(
            f"model.class {class_path!r} cannot be imported: {type(exc).__name__}: {exc}", path=source_file
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Generator)):
        raise ConfigError(
            f"model.class {class_path!r} is not a collapse_guard.generator.Generator subclass", path=source_file
        )
    return cls


def check_generator_class(class_path: str, source_file: str) -> None:
    """When params.yaml is loaded: ``model.class`` names a Generator (a ConfigError naming the file if not)."""
    _import_class(class_path, source_file)


def build_generator(params: ModelParams) -> Generator:
    cls = _import_class(params.class_path)
    try:
        return cls(**params.options)
    except TypeError as exc:
        raise ConfigError(f"model.options do not fit {params.class_path}: {exc}") from exc


def load_generator(class_path: str, path: Path) -> Generator:
    if not Path(path).is_file():
        raise DataError("model file not found", path=str(path))
    cls = _import_class(class_path)
    try:
        return cls.load(Path(path))
    except (ConfigError, DataError):
        raise
    except Exception as exc:  # a truncated, corrupt or crafted file fails inside torch/pickle/zip, or a user's load
        raise DataError(
            f"model file cannot be loaded ({type(exc).__name__}: {exc}); it is truncated, corrupt or not a model this "
            "class wrote. Restore it from DVC (`dvc checkout`) or start a fresh workspace",
            path=str(path),
        ) from exc
