"""gate.min_real_fraction: a number, or auto from the last safe-zone certificate in a real ledger file."""

from __future__ import annotations

import pytest

from collapse_guard.errors import ConfigError
from collapse_guard.modality.registry import load_params
from collapse_guard.records import ledger
from collapse_guard.records.gate_floor import CERTIFICATE, FROM_PARAMS, resolve, with_floor
from tests.conftest import write_params

ANCHOR = {"rows": 480, "digest": "a" * 64, "dvc_md5": "m" * 32}
MODEL = {"class": "collapse_guard.theory:GaussianGenerator", "options": {"estimator": "mle"}}


def workspace_params(tmp_path, floor="auto", margin=0.05):
    write_params(tmp_path, gate={"min_real_fraction": floor, "auto_margin": margin}, model=MODEL)
    return load_params(tmp_path / "params.yaml")


def certify(params, r_star=0.35, anchor=ANCHOR, model_class=MODEL["class"], options=MODEL["options"]):
    body = {"r_star": r_star, "interval": [r_star - 0.05, r_star], "anchor": anchor, "model_class": model_class}
    return ledger.append(params.ledger_path, CERTIFICATE, {**body, "model_options": options})


def record_anchor(params, anchor=ANCHOR, kind="anchor_initialised"):
    return ledger.append(params.ledger_path, kind, {"anchor": anchor})


def test_a_number_is_applied_as_it_is_and_names_params_yaml(tmp_path):
    from collapse_guard.pipeline.gate import CORE_SOURCES

    floor = resolve(workspace_params(tmp_path, floor=0.3))
    assert floor.value == 0.3 and floor.source == FROM_PARAMS == CORE_SOURCES["min_real_fraction"]


def test_auto_is_the_certified_fraction_plus_the_margin_and_names_the_ledger_line(tmp_path):
    params = workspace_params(tmp_path, margin=0.1)
    record_anchor(params)
    line = certify(params, r_star=0.35)["seq"]
    floor = resolve(params)
    assert floor.value == pytest.approx(0.45)
    assert f"ledger line {line}" in floor.source and "r* 0.35" in floor.source and "auto_margin 0.1" in floor.source
    assert with_floor(params, floor).gate.min_real_fraction == pytest.approx(0.45)
    certify(params, r_star=0.98)  # the last certificate wins, and a floor never exceeds 1
    assert resolve(params).value == 1.0


def test_auto_refuses_without_a_certificate_naming_params_yaml(tmp_path):
    params = workspace_params(tmp_path)
    record_anchor(params)
    with pytest.raises(ConfigError) as refused:
        resolve(params)
    assert refused.value.exit_code == 2
    assert "no safe-zone certificate" in str(refused.value) and "experiment --safe-zone" in str(refused.value)
    assert str(tmp_path / "params.yaml") in str(refused.value)


def test_auto_refuses_after_the_anchor_changed_naming_both_versions(tmp_path):
    params = workspace_params(tmp_path)
    record_anchor(params)
    line = certify(params)["seq"]
    assert resolve(params).value == pytest.approx(0.4)
    grown = {"rows": 600, "digest": "b" * 64, "dvc_md5": "n" * 32}
    ingested = record_anchor(params, grown, kind="anchor_ingested")["seq"]
    with pytest.raises(ConfigError) as refused:
        resolve(params)
    message = str(refused.value)
    assert refused.value.exit_code == 2 and "the anchor changed since the safe-zone certificate" in message
    assert f"ledger line {line}: 480 rows, digest aaaaaaaaaaaa" in message
    assert f"now 600 rows, digest bbbbbbbbbbbb (ledger line {ingested})" in message
    certify(params, anchor=grown)  # a new certificate on the grown anchor is used again
    assert resolve(params).value == pytest.approx(0.4)


def test_auto_refuses_after_the_model_changed(tmp_path):
    params = workspace_params(tmp_path)
    record_anchor(params)
    certify(params, model_class="collapse_guard.tabular.gmm:GaussianMixtureGenerator", options={"components": 8})
    with pytest.raises(ConfigError) as refused:
        resolve(params)
    message = str(refused.value)
    assert "the model changed since the safe-zone certificate" in message
    assert "model.class collapse_guard.tabular.gmm:GaussianMixtureGenerator -> collapse_guard.theory:" in message
    certify(params, options={"estimator": "unbiased"})
    with pytest.raises(ConfigError, match="model.options"):
        resolve(params)


def test_without_strict_a_missing_certificate_is_a_floor_of_zero_that_says_why(tmp_path):
    params = workspace_params(tmp_path)
    floor = resolve(params, strict=False)
    assert floor.value == 0.0 and "not applied" in floor.source and "no safe-zone certificate" in floor.source
