"""Each modality brings its own section of params.yaml: a file is validated as the params of the modality its
``data.modality`` names (collapse_guard.modality.registry), whose section is typed there and nowhere else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collapse_guard.config import Params
from collapse_guard.errors import ConfigError
from collapse_guard.modality.registry import MODALITIES, load_params, modality_for, params_class
from collapse_guard.tabular.params import ParamsWithTabular, TabularParams
from collapse_guard.text.params import ParamsWithText, TextParams
from tests.conftest import REPO, TINY_TEXT, write_params


def test_a_params_file_is_loaded_as_its_modalitys_params_with_its_section_only():
    tabular, text = load_params(REPO / "params.yaml"), load_params(REPO / "examples/text/params.yaml")
    assert type(tabular) is ParamsWithTabular and type(text) is ParamsWithText
    assert isinstance(tabular.tabular, TabularParams) and not hasattr(tabular, "text")
    assert isinstance(text.text, TextParams) and not hasattr(text, "tabular")
    assert {name: params_class(name) for name in MODALITIES} == {"tabular": ParamsWithTabular, "text": ParamsWithText}


def test_another_modalitys_section_may_stay_in_the_file_and_is_checked(tmp_path):
    kept = load_params(write_params(tmp_path, text={"dedup": {"num_perm": 64}}))
    assert type(kept) is ParamsWithTabular and kept.tabular.embedded.rows == 600  # TINY's
    with pytest.raises(ConfigError, match=r"text\.dedup\.num_perm") as caught:
        load_params(write_params(tmp_path, text={"dedup": {"num_perm": 1}}))
    assert "params.yaml" in str(caught.value)
    with pytest.raises(ConfigError, match=r"tabular\.near_copy_radus"):
        load_params(write_params(tmp_path, "examples/text/params.yaml", TINY_TEXT, tabular={"near_copy_radus": 0.1}))


def test_an_unknown_modality_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.modality: 'audio' is not a modality \(one of 'tabular', 'text'\)"):
        load_params(write_params(tmp_path, data={"modality": "audio"}))


def test_a_modality_built_from_another_modalitys_params_has_its_own_defaults(tmp_path):
    from collapse_guard.text.modality import TextModality

    tabular = load_params(write_params(tmp_path, run={"seed": 11}))
    assert type(modality_for(tabular).params) is ParamsWithTabular and modality_for(tabular).params is tabular
    text = TextModality(tabular).params
    assert type(text) is ParamsWithText and text.text == TextParams() and text.run.seed == 11


@given(seed=st.integers(0, 4_000_000), sample_size=st.integers(100, 10_000), rows=st.integers(50, 100_000))
def test_params_as_another_modalitys_keep_every_shared_section(seed: int, sample_size: int, rows: int):
    tabular = ParamsWithTabular(
        run={"seed": seed}, evaluation={"sample_size": sample_size}, tabular={"embedded": {"rows": rows}}
    )
    text = ParamsWithText.of(tabular)
    assert all(getattr(text, name) == getattr(tabular, name) for name in Params.model_fields)
    assert text.text == TextParams() and ParamsWithTabular.of(tabular) is tabular
    assert ParamsWithTabular.of(text).tabular == TabularParams()  # what was not carried comes back as defaults
