"""The text modality's own duties: a user's corpus as the anchor, and the watermark keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from collapse_guard.errors import ConfigError, DataError, SigningKeyError
from collapse_guard.modality.registry import load_params, modality_for
from collapse_guard.tabular.modality import TabularModality
from collapse_guard.text.modality import TextModality
from collapse_guard.text.watermark import KEY_ENV, as_key, create_key_file
from tests.conftest import TINY_TEXT, write_params


def _modality(workspace: Path, **sections) -> TextModality:
    modality = modality_for(load_params(write_params(workspace, "examples/text/params.yaml", TINY_TEXT, **sections)))
    assert isinstance(modality, TextModality)
    return modality


def test_the_anchor_can_be_a_users_jsonl_corpus(tmp_path: Path):
    corpus = tmp_path / "mine.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": f"document number {i} of my own corpus"}) for i in range(5)))
    anchor = _modality(tmp_path, data={"source": "mine.jsonl"}).initial_anchor()
    assert len(anchor) == 5 and (anchor["source"] == "real").all()
    assert (anchor["watermark_key_id"] == "").all() and (anchor["decoding"] == "").all()
    assert anchor["origin"].iloc[0].startswith("mine.jsonl@md5:")
    assert anchor["record_id"].is_unique


def test_a_malformed_user_corpus_names_the_line(tmp_path: Path):
    (tmp_path / "mine.jsonl").write_text('{"text": "fine"}\n{"txt": "no text field"}\n')
    with pytest.raises(DataError, match="line 2: no 'text' field"):
        _modality(tmp_path, data={"source": "mine.jsonl"}).initial_anchor()


def test_the_default_anchor_is_the_python_manual(tmp_path: Path):
    anchor = _modality(tmp_path).initial_anchor()
    assert len(anchor) == TINY_TEXT["text"]["embedded"]["max_documents"]
    assert anchor["origin"].iloc[0].startswith("pydoc_data.topics@python-")
    assert anchor["text"].str.split().str.len().min() >= 30


def test_init_creates_a_private_key_kept_out_of_git(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    modality = _modality(tmp_path)
    created = modality.prepare_workspace()
    key_file = tmp_path / ".collapse-guard/watermark.key"
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_id = modality.watermark().key.key_id
    assert key_id in created[1] and all(key_file.read_text().strip() not in line for line in created)
    assert "/.collapse-guard/watermark.key" in (tmp_path / ".gitignore").read_text().splitlines()
    assert modality.prepare_workspace() == []  # idempotent: never a second key


def test_an_environment_key_is_recorded_at_init_and_retired_keys_are_still_screened(tmp_path: Path, monkeypatch):
    retired = create_key_file(tmp_path / "old.key")
    monkeypatch.setenv(KEY_ENV, "the current key")
    modality = _modality(tmp_path, text={"watermark": {"known_key_files": ["old.key"]}})
    created = modality.prepare_workspace()
    assert not (tmp_path / ".collapse-guard/watermark.key").exists()  # the environment's key is not written
    record = json.loads((tmp_path / ".collapse-guard/watermark.json").read_text())
    current = modality.watermark().key.key_id
    assert record["current"] == current and current in created[0]
    assert record["keys"][retired.key_id]["status"] == "retired"
    screen = modality.screen()
    assert set(screen.keys) == {current, retired.key_id}
    assert screen.schemes[current] == ("lefthash-h1",)


def test_a_key_that_is_not_the_recorded_one_is_a_key_error_naming_both_ids(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    modality = _modality(tmp_path)
    modality.prepare_workspace()
    recorded = modality.watermark().key.key_id
    monkeypatch.setenv(KEY_ENV, "a different key")
    other = as_key("a different key").key_id
    for action in (modality.watermark, modality.screen, modality.prepare_workspace):
        with pytest.raises(SigningKeyError, match=f"{other}.*{recorded}") as raised:
            action()
        assert raised.value.exit_code == 11
    # the key file replaced behind the workspace's back: also refused, naming both ids
    monkeypatch.delenv(KEY_ENV)
    key_file = tmp_path / ".collapse-guard/watermark.key"
    key_file.write_text("replaced\n")
    with pytest.raises(SigningKeyError, match=f"{as_key('replaced').key_id}.*{recorded}"):
        modality.screen()


def test_a_recorded_key_without_its_file_stops_screening(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    old = create_key_file(tmp_path / "old.key")
    modality = _modality(tmp_path, text={"watermark": {"known_key_files": ["old.key"]}})
    modality.prepare_workspace()
    forgetful = _modality(tmp_path)  # the same workspace, the retired key's file no longer configured
    with pytest.raises(ConfigError, match=old.key_id):
        forgetful.screen()


def test_a_new_scheme_is_recorded_and_screened_alongside_the_old(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    _modality(tmp_path).prepare_workspace()
    modality = _modality(tmp_path, text={"watermark": {"scheme": "selfhash-h4"}})
    config = modality.watermark()
    assert config.scheme == "selfhash-h4"
    assert modality.screen().schemes[config.key.key_id] == ("lefthash-h1", "selfhash-h4")


def test_without_a_key_a_watermarking_run_stops_with_a_config_error(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match="watermark key"):
        _modality(tmp_path).watermark()


def test_tabular_is_the_default(tmp_path: Path):
    assert isinstance(modality_for(load_params(write_params(tmp_path))), TabularModality)
