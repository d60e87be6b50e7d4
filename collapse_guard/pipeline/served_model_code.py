"""MLflow's "model from code" entry for a collapse-guard model: MLflow copies this file into the logged model
and runs it on ``mlflow.pyfunc.load_model``, so nothing is unpickled (the model's settings travel as its
``model_config``, its weights as ``model.pt`` read by the model class's safe ``load``)."""

from mlflow.models import set_model

from collapse_guard.pipeline.served_model import SampledGenerator

set_model(SampledGenerator())
