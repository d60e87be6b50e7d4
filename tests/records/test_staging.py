"""A generation appears whole or not at all: its staging folder is renamed into place in one step."""

from __future__ import annotations

from pathlib import Path

from collapse_guard.modality.registry import load_params
from collapse_guard.records.staging import leftover_folders, publish, staging_paths
from collapse_guard.records.workspace import generation_paths


def _stage(params, generation: int, run: str, content: bytes = b"model") -> Path:
    staged = staging_paths(params, generation, run)
    staged.dir.mkdir(parents=True)
    staged.model.write_bytes(content)
    staged.gate.write_text("{}")
    return staged.dir


def test_publish_renames_the_staging_folder_into_place_and_leaves_nothing_staged(workspace: Path):
    params = load_params(workspace / "params.yaml")
    staged = _stage(params, 3, "a" * 32)
    final = generation_paths(params, 3)
    assert staged.parent.name == ".staging" and staged.parent.parent == final.dir.parent  # same file system
    assert not final.dir.exists()  # a reader sees nothing until it is published

    publish(staged, final.dir)

    assert final.model.read_bytes() == b"model" and final.gate.is_file()
    assert not staged.exists() and leftover_folders(params) == []


def test_publish_replaces_an_unrecorded_folder_of_the_same_generation(workspace: Path):
    """A generation the gate blocked is published as evidence; the next run's attempt at the same number
    replaces it whole (no file of the blocked attempt survives beside the new ones)."""
    params = load_params(workspace / "params.yaml")
    final = generation_paths(params, 2)
    publish(_stage(params, 2, "b" * 32, b"blocked attempt"), final.dir)
    (final.dir / "only-in-the-blocked-attempt.json").write_text("{}")

    publish(_stage(params, 2, "c" * 32, b"second attempt"), final.dir)

    assert final.model.read_bytes() == b"second attempt"
    assert sorted(p.name for p in final.dir.iterdir()) == ["gate.json", "model.pt"]
    assert leftover_folders(params) == []


def test_two_runs_stage_the_same_generation_in_separate_folders(workspace: Path):
    params = load_params(workspace / "params.yaml")
    assert staging_paths(params, 1, "d" * 32).dir != staging_paths(params, 1, "e" * 32).dir
