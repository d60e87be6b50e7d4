import numpy as np
import pytest

from collapse_guard.config import DecodingParams, ModelParams
from collapse_guard.errors import ConfigError
from collapse_guard.generator import build_generator, load_generator
from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.gmm import GaussianMixtureGenerator
from tests.conftest import rare_mode_mask

PATH = "collapse_guard.tabular.gmm:GaussianMixtureGenerator"


@pytest.fixture(scope="module")
def fitted():
    data = sample_default(2000, 0.025, np.random.default_rng(0))
    model = GaussianMixtureGenerator(components=8, epochs=150)
    model.fit(data, seed=0)
    return model, data


def test_fits_the_default_data_including_the_rare_modes(fitted):
    model, data = fitted
    samples = model.sample(20_000, DecodingParams(), seed=1)
    assert list(samples.columns) == ["x0", "x1"]
    assert rare_mode_mask(samples).mean() == pytest.approx(rare_mode_mask(data).mean(), abs=0.02)
    shifted = data + 3.0
    assert model.loss(data) < model.loss(shifted) - 0.5


def test_decoding_controls_act_as_documented(fitted):
    model, _ = fitted
    base = model.sample(20_000, DecodingParams(), seed=2)
    cold = model.sample(20_000, DecodingParams(temperature=0.5), seed=2)
    nucleus = model.sample(20_000, DecodingParams(top_p=0.8), seed=2)
    assert cold.var().sum() < base.var().sum()
    assert rare_mode_mask(nucleus).mean() < 0.5 * rare_mode_mask(base).mean()  # top-p cuts the rare components


def test_save_load_round_trip_samples_identically(fitted, tmp_path):
    model, data = fitted
    model.save(tmp_path / "m.pt")
    again = load_generator(PATH, tmp_path / "m.pt")
    assert again.loss(data) == pytest.approx(model.loss(data))
    assert again.sample(50, DecodingParams(), 3).equals(model.sample(50, DecodingParams(), 3))


def test_models_are_built_from_params_and_bad_classes_are_config_errors():
    assert isinstance(
        build_generator(ModelParams(**{"class": PATH, "options": {"components": 3}})), GaussianMixtureGenerator
    )
    with pytest.raises(ConfigError, match="cannot be imported"):
        build_generator(ModelParams(**{"class": "nowhere.module:Model"}))
    with pytest.raises(ConfigError, match="not a collapse_guard.generator.Generator"):
        build_generator(ModelParams(**{"class": "collections:OrderedDict"}))
    with pytest.raises(ConfigError, match="do not fit"):
        build_generator(ModelParams(**{"class": PATH, "options": {"wings": 2}}))


def test_categorical_columns_are_modelled_with_their_modes():
    rng = np.random.default_rng(5)
    data = sample_default(2000, 0.025, rng)
    data["kind"] = np.where(rare_mode_mask(data), "rare-event", np.where(data["x0"] > 2, "east", "west"))
    model = GaussianMixtureGenerator(components=8, epochs=150)
    model.fit(data, seed=0)
    samples = model.sample(10_000, DecodingParams(), seed=1)
    assert list(samples.columns) == ["x0", "x1", "kind"]
    assert (samples["kind"] == "rare-event").mean() == pytest.approx((data["kind"] == "rare-event").mean(), abs=0.02)
    assert (samples.loc[rare_mode_mask(samples), "kind"] == "rare-event").mean() > 0.9
    unseen = data.head(5).assign(kind="never-seen")
    assert np.isfinite(model.loss(unseen))


class _Payload:
    """A pickle that runs code when loaded: what a crafted model.pt carries."""

    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_a_model_file_carrying_code_is_refused_without_running_it(tmp_path, monkeypatch):
    import torch

    from collapse_guard.errors import DataError

    monkeypatch.chdir(tmp_path)
    crafted = tmp_path / "model.pt"
    torch.save({"format": "collapse-guard-gmm/1", "payload": _Payload()}, crafted)
    with pytest.raises(DataError, match="cannot load the model safely") as caught:
        load_generator(PATH, crafted)
    assert str(crafted) in str(caught.value)
    assert not (tmp_path / "pwned").exists()


def test_a_saved_model_loads_with_weights_only_and_samples_the_same(fitted, tmp_path):
    import torch

    model, _ = fitted
    model.save(tmp_path / "model.pt")
    torch.load(tmp_path / "model.pt", weights_only=True)  # no pickle needed
    loaded = load_generator(PATH, tmp_path / "model.pt")
    a, b = model.sample(50, DecodingParams(), seed=3), loaded.sample(50, DecodingParams(), seed=3)
    assert a.equals(b)


def test_mini_batch_training_is_reproducible_and_keeps_the_rare_modes():
    """A table larger than ``batch_rows`` trains on seeded mini-batches: same seed, same model; and the fit
    still holds the rare modes (the thing collapse takes first), so the fast path keeps the science."""
    data = sample_default(6000, 0.025, np.random.default_rng(3))
    first = GaussianMixtureGenerator(components=8, epochs=150, batch_rows=512)
    again = GaussianMixtureGenerator(components=8, epochs=150, batch_rows=512)
    first.fit(data, seed=4)
    again.fit(data, seed=4)
    for name in ("means", "log_scales", "logits"):
        assert np.array_equal(first.state[name], again.state[name])
    samples = first.sample(20_000, DecodingParams(), seed=1)
    assert rare_mode_mask(samples).mean() == pytest.approx(rare_mode_mask(data).mean(), abs=0.02)
    full = GaussianMixtureGenerator(components=8, epochs=150, batch_rows=6000)
    full.fit(data, seed=4)
    assert first.loss(data) == pytest.approx(full.loss(data), abs=0.05)


def test_codes_mark_unseen_levels_and_keep_the_level_order():
    import pandas as pd

    from collapse_guard.tabular.gmm import _codes

    codes = _codes(pd.Series(["b", "a", "zz", "b", 3]), ["3", "a", "b"])
    assert codes.tolist() == [2, 1, -1, 2, 0]
