"""Each trained model in MLflow's model format, so the registry serves it: ``mlflow.pyfunc.load_model(
"models:/<promotion.model_name>@champion").predict(pd.DataFrame({"n": [100]}))`` samples 100 records (or
texts) from the champion, on any machine with collapse-guard installed, without reading the workspace.

The MLflow model is a small ``PythonModel`` wrapper around the generation's own ``model.pt`` (an artifact
of the MLflow model): ``load_context`` loads it through the model class named in params.yaml (the same safe
``Generator.load``), ``predict`` calls ``Generator.sample`` with the decoding the run used. Nothing is pickled
but the wrapper's two settings (the class path and the decoding), and the requirements are given, not
inferred (inference starts a subprocess that imports the model: seconds per generation).

Imported only where a model is logged or loaded: it imports MLflow (~2.5 s cold).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from collapse_guard.config import DecodingParams
from collapse_guard.generator import Generator, load_generator

MODEL_ARTIFACT = "model"  # the MLflow model's folder in the run's artifacts, and its artifact key for model.pt
REQUESTED_ROWS = "n"  # predict's input column: how many records to sample
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("long", REQUESTED_ROWS)]),
    params=ParamSchema([ParamSpec("seed", "long", 0)]),
)


class SampledGenerator(mlflow.pyfunc.PythonModel):
    """A collapse-guard generator as an MLflow model: predict({"n": [k]}) -> k sampled records."""

    def __init__(self, class_path: str, decoding: dict[str, Any]) -> None:
        self.class_path = class_path
        self.decoding = decoding
        self._generator: Generator | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self._generator = load_generator(self.class_path, Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """One frame of ``sum(n)`` samples, drawn with ``params["seed"]`` (0 when not given)."""
        if self._generator is None:
            self.load_context(context)
        rows = int(pd.DataFrame(model_input)[REQUESTED_ROWS].sum())
        seed = int((params or {}).get("seed", 0))
        return self._generator.sample(rows, DecodingParams(**self.decoding), seed)


def save(folder: Path, model_file: Path, class_path: str, decoding: DecodingParams) -> Path:
    """Write the MLflow model of ``model_file`` to ``folder`` (which must not exist); returns ``folder``."""
    mlflow.pyfunc.save_model(
        path=str(folder),
        python_model=SampledGenerator(class_path, decoding.model_dump()),
        artifacts={MODEL_ARTIFACT: str(model_file)},
        signature=SIGNATURE,
        pip_requirements=_requirements(),
    )
    return Path(folder)


def _requirements() -> list[str]:
    """What loading the model needs: collapse-guard itself (its model classes) at the installed versions."""
    pinned = []
    for package in ("collapse-guard", "mlflow", "torch", "pandas"):
        try:
            pinned.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pinned.append(package)
    return pinned
