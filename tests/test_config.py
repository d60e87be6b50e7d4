import pytest

from collapse_guard.errors import ConfigError, PolicyForbidden
from collapse_guard.modality.registry import load_params
from tests.conftest import REPO, write_params


def test_the_shipped_params_file_is_valid():
    params = load_params(REPO / "params.yaml")
    assert params.mixing.policy == "accumulate" and params.run.mode == "production"
    assert params.anchor_path == REPO / "data/anchor/real.parquet"


def test_replace_is_forbidden_in_production_and_allowed_in_experiments(tmp_path):
    path = write_params(tmp_path, mixing={"policy": "replace"})
    with pytest.raises(PolicyForbidden, match="params.yaml"):
        load_params(path)
    assert load_params(path, {"run.mode": "experiment"}).mixing.policy == "replace"


@pytest.mark.parametrize(
    "sections, fragment",
    [
        ({"gate": {"min_real_fraction": 1.5}}, "gate.min_real_fraction"),
        ({"gate": {"min_real_fracton": 0.5}}, "min_real_fracton"),
        ({"gate": {"min_real_fraction": "automatic"}}, "gate.min_real_fraction"),
        ({"experiment": {"safe_zone": {"step": 0.3}}}, "experiment.safe_zone.step"),
        ({"mixing": {"policy": "shuffle"}}, "mixing.policy"),
        ({"model": {"class": "no_colon"}}, "model.class"),
        # a lead's ceiling is derived from the floor of the metric it leads: no floor, no lead
        ({"forecast": {"leads": {"variance_ratio": "heldout_real_loss"}}}, "forecast.leads.variance_ratio"),
    ],
)
def test_bad_values_name_the_key_and_the_file(tmp_path, sections, fragment):
    with pytest.raises(ConfigError) as caught:
        load_params(write_params(tmp_path, **sections))
    assert fragment in str(caught.value) and "params.yaml" in str(caught.value)


def test_the_gate_floor_is_a_fraction_or_auto(tmp_path):
    assert load_params(write_params(tmp_path, gate={"min_real_fraction": "auto"})).gate.min_real_fraction == "auto"
    assert load_params(write_params(tmp_path, gate={"min_real_fraction": 0.4})).gate.min_real_fraction == 0.4


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("paths: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_mlflow_env_var_overrides_and_relative_sqlite_is_anchored(tmp_path, monkeypatch):
    params = load_params(write_params(tmp_path))
    assert params.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert params.tracking_uri == "http://mlflow.internal:5000"
