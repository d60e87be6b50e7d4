"""The audit page in a real browser: headless Chromium (Debian's package; `make browser` installs it) opens the
page of a tiny workspace, and of the same workspace with one ledger line edited."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from collapse_guard.cli import app
from tests.conftest import write_params

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]

INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser; installed as `make browser` does when missing and allowed (root), else a skip saying why."""
    found = shutil.which("chromium")
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["sh", "-c", INSTALL], capture_output=True, timeout=900, check=False)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed and could not be installed here: run `make browser` as root")
    return found


def open_page(chromium: str, page: Path, tmp_path: Path) -> tuple[str, np.ndarray]:
    """(the DOM Chromium built, the screenshot's pixels)."""
    flags = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]
    url = page.resolve().as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    shot = tmp_path / f"{page.stem}.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,2000", url], capture_output=True, timeout=120, check=True
    )
    from PIL import Image

    return dom, np.asarray(Image.open(shot).convert("RGB"), dtype=float)


def test_the_audit_page_renders_in_a_browser_and_goes_red_on_a_tampered_ledger(
    workspace: Path, chromium: str, tmp_path: Path
):
    params_file = write_params(workspace)
    runner = CliRunner()
    assert runner.invoke(app, ["run", "-n", "1", "--params", str(params_file)]).exit_code == 0
    page = workspace / "reports" / "audit.html"
    result = runner.invoke(app, ["audit", "report", "--params", str(params_file)])
    assert result.exit_code == 0, result.output
    assert str(page) in result.output

    dom, pixels = open_page(chromium, page, tmp_path)
    assert "Audit trail verified" in dom and 'class="banner ok"' in dom
    assert "mixture gen 1" in dom and "gen000-" in dom and "signature verified" in dom  # the lineage's nodes
    assert "mixture composition by generation of origin" in dom  # the figures, as inline SVG text
    assert "collapse metrics by generation" in dom
    assert dom.count("<svg") >= 3
    assert pixels.std() > 10, "the screenshot is blank"
    green = (np.abs(pixels - [198, 246, 213]).sum(axis=2) < 30).sum()
    assert green > 2000, "no green banner in the screenshot"
    if os.environ.get("AUDIT_PAGE_SCREENSHOT"):  # how docs/audit-page.png is made
        shutil.copy(tmp_path / "audit.png", os.environ["AUDIT_PAGE_SCREENSHOT"])

    ledger_file = workspace / "ledger" / "ledger.jsonl"
    lines = ledger_file.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if '"generation_recorded"' in line)
    entry = json.loads(lines[number - 1])
    entry["body"]["metrics"]["tail_coverage"] = 0.999  # a quietly improved metric
    lines[number - 1] = json.dumps(entry, sort_keys=True)
    ledger_file.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["audit", "report", "--params", str(params_file)])
    assert result.exit_code == 7
    dom, pixels = open_page(chromium, page, tmp_path)
    assert 'class="banner broken"' in dom and "does NOT verify" in dom
    assert f"Broken entry: ledger line {number}" in dom
    red = (np.abs(pixels - [254, 215, 215]).sum(axis=2) < 30).sum()
    assert red > 2000, "no red banner in the screenshot"
