"""Each trained model in MLflow's model format, so the registry serves it: ``mlflow.pyfunc.load_model(
"models:/<promotion.model_name>@champion").predict(pd.DataFrame({"n": [100]}))`` samples 100 records (or
texts) from the champion, on any machine with collapse-guard installed, without reading the workspace.

The MLflow model is a small ``PythonModel`` wrapper around the generation's own ``model.pt`` (an artifact
of the MLflow model), logged as a "model from code" (served_model_code.py, so nothing is pickled): its
``model_config`` holds the model class path and the decoding the run used; ``load_context`` loads ``model.pt``
through that class (the same safe ``Generator.load``), ``predict`` calls ``Generator.sample``. The
requirements are given, not inferred (inference starts a subprocess that imports the model: seconds per
generation).

Imported only where a model is logged or loaded: it imports MLflow (~2.5 s cold).
"""

from __future__ import annotations

import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from collapse_guard.config import DecodingParams
from collapse_guard.generator import Generator, load_generator
from collapse_guard.records import tracking

CODE = Path(__file__).with_name("served_model_code.py")  # what MLflow runs to build the model when loading it
MODEL_ARTIFACT = "model"  # the MLflow model's folder in the run's artifacts, and its artifact key for model.pt
REQUESTED_ROWS = "n"  # predict's input column: how many records to sample
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("long", REQUESTED_ROWS)]),
    params=ParamSchema([ParamSpec("seed", "long", 0)]),
)


class SampledGenerator(mlflow.pyfunc.PythonModel):
    """A collapse-guard generator as an MLflow model: predict({"n": [k]}) -> k sampled records."""

    def __init__(self) -> None:
        self._generator: Generator | None = None
        self._decoding = DecodingParams()

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        config = context.model_config
        self._generator = load_generator(config["class_path"], Path(context.artifacts[MODEL_ARTIFACT]))
        self._decoding = DecodingParams(**config.get("decoding", {}))

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
        return self._generator.sample(rows, self._decoding, seed)


def save(folder: Path, model_file: Path, class_path: str, decoding: DecodingParams) -> Path:
    """Write the MLflow model of ``model_file`` to ``folder`` (which must not exist); returns ``folder``."""
    with warnings.catch_warnings():  # the signature is given: an input example would only cost a sampling run
        warnings.filterwarnings("ignore", message=".*input example was not provided.*", category=UserWarning)
        mlflow.pyfunc.save_model(
            path=str(folder),
            python_model=str(CODE),
            model_config={"class_path": class_path, "decoding": decoding.model_dump()},
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


def log_model(tracking_uri: str, run_id: str, model_file: Path, class_path: str, decoding: DecodingParams) -> None:
    """Save the MLflow model in a scratch folder and log it under ``MODEL_ARTIFACT`` in the run, where the
    registry version is created from (collapse_guard/records/registry.py)."""
    with tempfile.TemporaryDirectory(prefix="mlflow-model-") as scratch:
        folder = save(Path(scratch) / MODEL_ARTIFACT, model_file, class_path, decoding)
        tracking.log_folder(tracking_uri, run_id, folder, MODEL_ARTIFACT)
