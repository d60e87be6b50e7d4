"""Shared fixtures: one Prefect test server per session, and tiny real workspaces."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import settings

from collapse_guard.offline import apply_offline_defaults
from collapse_guard.process_heap import collect_old_objects_less_often
from collapse_guard.tabular.default_data import FEATURES, RARE_MODES

apply_offline_defaults()
# as in the console script: a test process holds every library's objects, and each full collection walked them all
collect_old_objects_less_often()
os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests use each workspace's own SQLite store

# Property tests check answers, not speed: hypothesis' default 200 ms deadline per example failed a test whose
# first example paid for numpy's and the tokenizer's warm-up on a loaded CI machine. Speed lives in benchmarks/.
settings.register_profile("collapse-guard", deadline=None)
settings.load_profile("collapse-guard")

REPO = Path(__file__).resolve().parents[1]

# Small enough for seconds per generation, large enough for the metrics to mean something.
TINY = {
    "tabular": {"embedded": {"rows": 600}},
    "model": {"options": {"components": 8, "epochs": 60}},
    "generation": {"synthetic_per_generation": 150},
    "evaluation": {"sample_size": 600},
}


def merge(base: dict, extra: dict) -> dict:
    """Deep merge, except ``options`` (a model's constructor arguments), which are replaced whole."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out.get(key, {}), value) if isinstance(value, dict) and key != "options" else value
    return out


# The text workspace (examples/text/params.yaml) shrunk the same way: a quarter of the corpus, a model trained in
# seconds.
TINY_TEXT = {
    "text": {"embedded": {"max_documents": 160}, "metric_tokens": 3000},
    "model": {
        "options": {
            "embedding_dim": 24,
            "hidden_dim": 48,
            "epochs": 2,
            "sequence_length": 32,
            "vocabulary_size": 1200,
            "sample_tokens": 60,
            "min_sample_tokens": 20,
            "no_copy_ngram": 4,
        }
    },
    "generation": {"synthetic_per_generation": 60},
    "evaluation": {"sample_size": 100},
}


def write_params(workspace: Path, base: str = "params.yaml", tiny: dict | None = None, **sections: dict) -> Path:
    """A repo params file (``base``), shrunk to ``tiny`` (default TINY), with the repo's expectations/ and
    any overrides."""
    params = yaml.safe_load((REPO / base).read_text())
    params = merge(merge(params, TINY if tiny is None else tiny), sections)
    params["paths"]["expectations_dir"] = str(REPO / "expectations")
    path = workspace / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def copy_workspace(source: Path, target: Path) -> Path:
    """``source`` copied whole to ``target``, with the absolute paths a workspace holds (its DVC remote, MLflow's
    artifact locations and model sources) moved along: the copy is a workspace of its own, and a test that changes
    it leaves ``source`` as it was. Lets the end-to-end tests of a module share one prepared workspace (made once,
    module-scoped) instead of running the same generations again for each test."""
    import shutil
    import sqlite3

    shutil.copytree(source, target, symlinks=True)
    old, new = str(source), str(target)
    for path in [target / ".dvc" / "config", *(target / "mlartifacts").rglob("MLmodel")]:
        if path.is_file() and old in (text := path.read_text()):
            path.write_text(text.replace(old, new))
    if (target / "mlflow.db").is_file():
        with sqlite3.connect(target / "mlflow.db") as db:
            for (table,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
                for _, column, kind, *_ in db.execute(f'pragma table_info("{table}")').fetchall():
                    if "CHAR" in kind.upper() or "TEXT" in kind.upper():
                        db.execute(f'update "{table}" set "{column}" = replace("{column}", ?, ?)', (old, new))
    return target


def sha256_of(path: Path) -> str:
    """A file's sha256; for a folder (the anchor dataset), over every file's name and bytes."""
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0" + file.read_bytes())
        return digest.hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def prefect_server():
    """Prefect 3 starts a server per process without an API URL (10-15 s): start one for the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    write_params(ws)
    return ws


def rare_mode_mask(frame: pd.DataFrame, radius_sd: float = 3.0) -> np.ndarray:
    """The default data's ground truth, for tests: points within ``radius_sd`` standard deviations of a rare
    mode's centre."""
    points = frame[list(FEATURES)].to_numpy(dtype=np.float64)
    mask = np.zeros(len(points), dtype=bool)
    for centre, scale in RARE_MODES:
        mask |= np.linalg.norm(points - np.array(centre), axis=1) <= radius_sd * scale
    return mask


def resign_as_insider(path: Path) -> None:
    """Re-sign a changed generation file or anchor with the workspace's own key, as an insider holding it
    could: the signatures no longer object, so what follows tests the gate's own checks behind them."""
    import contextlib
    import json

    from collapse_guard.records import anchor, attestation, signing
    from collapse_guard.records.versioning import file_digest

    workspace = next(p for p in Path(path).parents if (p / "params.yaml").is_file())
    keys = signing.Keys(workspace)
    if Path(path).parent.name.startswith("gen_"):
        signing.sign(Path(path).parent, Path(path).parent / attestation.SIGNATURE, keys)
        return
    if (Path(path).parent / anchor.MANIFEST).is_file():  # a part of the anchor dataset: its manifest too
        manifest_file = Path(path).parent / anchor.MANIFEST
        manifest = json.loads(manifest_file.read_text())
        entry = next(p for p in manifest["parts"] if p["file"] == Path(path).name)
        entry["sha256"] = file_digest(path, "sha256")
        with contextlib.suppress(Exception):  # a corrupted part keeps the rows it had
            entry["rows"] = len(pd.read_parquet(path))
        manifest_file.write_text(json.dumps(manifest))
        path = Path(path).parent
    statement_path = attestation.anchor_statement_path(path)
    statement = json.loads(statement_path.read_text())
    statement["subject"]["sha256"] = anchor.content_sha256(path)
    statement_path.write_text(json.dumps(statement))
    signing.sign(statement_path, attestation.anchor_signature_path(path), keys)
