"""The text modality's own duties: a user's corpus as the anchor, and the watermark keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from collapse_guard.config import load_params
from collapse_guard.errors import ConfigError, DataError
from collapse_guard.modality.registry import modality_for
from collapse_guard.tabular.modality import TabularModality
from collapse_guard.text.modality import TextModality
from collapse_guard.text.watermark import KEY_ENV, create_key_file
from tests.conftest import TINY_TEXT, write_params


def _modality(workspace: Path, **sections) -> TextModality:
    modality = modality_for(load_params(write_params(workspace, "params-text.yaml", TINY_TEXT, **sections)))
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
    assert key_id in created[0] and key_file.read_text().strip() not in created[0]
    assert "/.collapse-guard/watermark.key" in (tmp_path / ".gitignore").read_text().splitlines()
    assert modality.prepare_workspace() == []  # idempotent: never a second key


def test_the_environment_key_wins_and_retired_keys_are_still_screened(tmp_path: Path, monkeypatch):
    retired = create_key_file(tmp_path / "old.key")
    monkeypatch.setenv(KEY_ENV, "the current key")
    modality = _modality(tmp_path, text={"watermark": {"known_key_files": ["old.key"]}})
    assert modality.prepare_workspace() == [] and not (tmp_path / ".collapse-guard").exists()
    screen = modality.screen()
    assert set(screen.keys) == {modality.watermark().key.key_id, retired.key_id}


def test_without_a_key_a_watermarking_run_stops_with_a_config_error(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match="watermark key"):
        _modality(tmp_path).watermark()


def test_tabular_is_the_default(tmp_path: Path):
    assert isinstance(modality_for(load_params(write_params(tmp_path))), TabularModality)
