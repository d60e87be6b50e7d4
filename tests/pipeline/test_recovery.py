"""After kill -9: the next run removes the temp files of unfinished writes and marks the MLflow runs the
killed run opened FAILED, and says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from collapse_guard.modality.registry import load_params
from collapse_guard.pipeline.recovery import clean_after_crash, stale_temp_files
from collapse_guard.records import tracking
from collapse_guard.records.staging import leftover_folders, staging_paths
from collapse_guard.records.workspace import generation_paths


def test_stale_temp_files_and_running_mlflow_runs_are_cleaned_and_reported(workspace: Path):
    params = load_params(workspace / "params.yaml")
    stale = workspace / "generations/gen_001/.model.pt.ab12cd34.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a model")
    kept = workspace / "generations/gen_001/.notes.tmp"  # not an atomic write's temp name: left alone
    kept.write_text("mine")
    experiment = tracking.experiment_id(params.tracking_uri, params.tracking.experiment_name, None)
    orphan = tracking.start_run(params.tracking_uri, experiment, "generation-1")

    done = clean_after_crash(params)

    assert not stale.exists() and kept.exists()
    assert any("generations/gen_001/.model.pt.ab12cd34.tmp" in line for line in done)
    assert any(orphan in line and "FAILED" in line for line in done)
    assert tracking.client(params.tracking_uri).get_run(orphan).info.status == "FAILED"
    assert clean_after_crash(params) == []  # nothing left the second time


def test_a_write_killed_half_way_leaves_a_temp_file_that_is_then_found(workspace: Path):
    params = load_params(workspace / "params.yaml")
    target = workspace / "reports/big.bin"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from collapse_guard.records import atomic\n"
        "with atomic.atomic_open(Path(sys.argv[1]), 'wb') as handle:\n"
        "    handle.write(b'x' * 1000); handle.flush(); print('writing', flush=True); time.sleep(60)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    time.sleep(0.1)
    assert not target.exists()
    (leftover,) = stale_temp_files(params)
    assert leftover.parent == target.parent and leftover.name.startswith(".big.bin.")
    clean_after_crash(params)
    assert stale_temp_files(params) == []


def test_a_killed_runs_staging_folder_is_removed_and_reported_and_nothing_published_is_touched(workspace: Path):
    params = load_params(workspace / "params.yaml")
    published = generation_paths(params, 0)
    published.dir.mkdir(parents=True)
    published.model.write_bytes(b"recorded model")
    staged = staging_paths(params, 1, "f" * 32)  # kill -9 between training and publishing generation 1
    staged.dir.mkdir(parents=True)
    staged.model.write_bytes(b"half a generation")
    (staged.dir / ".metrics.json.ab12cd34.tmp").write_text("{")

    done = clean_after_crash(params)

    assert not staged.dir.exists() and leftover_folders(params) == []
    assert [line for line in done if "staging folder" in line] == [
        f"removed the staging folder of a generation a killed run never published: generations/.staging/"
        f"{staged.dir.name}"
    ]
    assert not any(".metrics.json" in line for line in done)  # went with its folder, not reported twice
    assert published.model.read_bytes() == b"recorded model"
    assert not generation_paths(params, 1).dir.exists()
    assert clean_after_crash(params) == []
