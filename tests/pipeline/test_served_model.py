"""A trained model logged in MLflow's model format and registered from it loads back by alias, offline, with
``mlflow.pyfunc.load_model("models:/<name>@champion")``, and its ``predict`` samples records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, ModelParams
from collapse_guard.generator import build_generator
from collapse_guard.pipeline import served_model
from collapse_guard.records import registry, tracking
from collapse_guard.tabular.default_data import sample_default


def test_a_registered_champion_loads_by_alias_and_samples(tmp_path: Path, monkeypatch):
    import mlflow

    model = build_generator(ModelParams(options={"components": 2, "epochs": 5}))
    model.fit(sample_default(200, 0.025, np.random.default_rng(0)), seed=1)
    model.save(tmp_path / "model.pt")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = tracking.experiment_id(uri, "served", tmp_path / "mlartifacts")
    run_id = tracking.start_run(uri, experiment, "generation-0")
    served_model.log_model(uri, run_id, tmp_path / "model.pt", model_class(), DecodingParams())
    version = registry.register(uri, "served", run_id, served_model.MODEL_ARTIFACT, 0, {})
    registry.mark(uri, "served", version, registry.CHAMPION, "first")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # not mlflow.set_tracking_uri: it would outlive the test
    loaded = mlflow.pyfunc.load_model("models:/served@champion")
    drawn = loaded.predict(pd.DataFrame({served_model.REQUESTED_ROWS: [50]}), params={"seed": 3})

    assert list(drawn.columns) == ["x0", "x1"] and len(drawn) == 50
    expected = model.sample(50, DecodingParams(), 3)
    pd.testing.assert_frame_equal(drawn.reset_index(drop=True), expected.reset_index(drop=True))


def model_class() -> str:
    return ModelParams().class_path
