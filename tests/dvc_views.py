"""For end-to-end tests: in a workspace that has run, DVC's own views of it work (`dvc metrics show` finds every
metric file its dvc.yaml declares, `dvc plots show` draws the per-generation series), as a user would type them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def assert_dvc_shows_metrics_and_plots(workspace: Path, metric: str) -> None:
    dvc = str(Path(sys.executable).parent / "dvc")
    shown = subprocess.run([dvc, "metrics", "show"], cwd=workspace, capture_output=True, text=True, timeout=300)
    said = shown.stdout + shown.stderr
    assert shown.returncode == 0 and "failed to load" not in said and metric in said, said
    out = workspace.parent / f"{workspace.name}-plots"
    drawn = subprocess.run(
        [dvc, "plots", "show", "-o", str(out)], cwd=workspace, capture_output=True, text=True, timeout=300
    )
    assert drawn.returncode == 0 and "failed to load" not in drawn.stdout + drawn.stderr, drawn.stdout + drawn.stderr
    page = (out / "index.html").read_text()
    assert metric in page and "generation" in page
