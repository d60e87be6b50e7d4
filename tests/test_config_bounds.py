"""Every numeric option has a range, and a model option the model does not know is an error naming it."""

import pytest

from collapse_guard.errors import ConfigError
from collapse_guard.modality.registry import load_params
from tests.conftest import REPO, TINY_TEXT, write_params

GMM = "collapse_guard.tabular.gmm:GaussianMixtureGenerator"


@pytest.mark.parametrize(
    "sections, fragment",
    [
        ({"model": {"options": {"epochs": 1_000_000_000_000}}}, "model.options.epochs"),
        ({"model": {"options": {"epochs": -5}}}, "model.options.epochs"),
        ({"model": {"options": {"components": 0}}}, "model.options.components"),
        ({"model": {"options": {"learning_rate": 0}}}, "model.options.learning_rate"),
        ({"model": {"options": {"batch_rows": 10}}}, "model.options.batch_rows"),
        ({"evaluation": {"max_reference_rows": 10}}, "evaluation.max_reference_rows"),
        ({"model": {"options": {"epochs": "many"}}}, "model.options.epochs"),
        ({"model": {"options": {"epochz": 5}}}, "model.options.epochz: unknown option"),
        ({"model": {"class": "collapse_guard.tabular.gmm:NoSuchModel"}}, "model.class"),
        ({"generation": {"synthetic_per_generation": 10**12}}, "generation.synthetic_per_generation"),
        ({"evaluation": {"sample_size": 10**12}}, "evaluation.sample_size"),
        ({"run": {"seed": -1}}, "run.seed"),
        ({"experiment": {"sweep": {"real_fractions": [0.5, 1.5]}}}, "experiment.sweep.real_fractions.1"),
        ({"tabular": {"embedded": {"rows": 10**12}}}, "tabular.embedded.rows"),
        ({"gate": {"auto_margin": 2}}, "gate.auto_margin"),
        ({"experiment": {"safe_zone": {"confidence": 1.0}}}, "experiment.safe_zone.confidence"),
        ({"experiment": {"safe_zone": {"seeds": 1}}}, "experiment.safe_zone.seeds"),
        ({"experiment": {"theory_scale": 0}}, "experiment.theory_scale"),
    ],
)
def test_out_of_range_and_unknown_options_name_the_key_and_the_file(tmp_path, sections, fragment):
    with pytest.raises(ConfigError) as caught:
        load_params(write_params(tmp_path, **sections))
    assert fragment in str(caught.value) and "params.yaml" in str(caught.value)


def test_text_model_options_are_checked_against_the_language_model(tmp_path):
    tiny = {**TINY_TEXT, "model": {"options": {**TINY_TEXT["model"]["options"], "epochs": 0}}}
    with pytest.raises(ConfigError, match=r"model\.options\.epochs"):
        load_params(write_params(tmp_path, base="examples/text/params.yaml", tiny=tiny))
    assert (
        load_params(write_params(tmp_path, base="examples/text/params.yaml", tiny=TINY_TEXT)).model.options["epochs"]
        == 2
    )


def test_shipped_params_files_pass_the_model_option_check():
    assert load_params(REPO / "params.yaml").model.class_path == GMM
    assert load_params(REPO / "examples/text/params.yaml").data.modality == "text"
