"""The suites' expectation types are checked before anything runs, without importing Great Expectations once
its list of types is kept (per GX version, in the user's cache folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CHECK = (
    "import sys\n"
    "from collapse_guard.pipeline.gate import check_suites\n"
    f"check_suites({str(REPO / 'expectations')!r}, 'tabular')\n"
    "print('great_expectations' in sys.modules)\n"
)


def check_in_a_fresh_process(cache: Path) -> bool:
    """Whether checking the repo's suites imported GX."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip() == "True"


def test_the_types_are_kept_once_and_read_without_importing_gx(tmp_path: Path):
    assert check_in_a_fresh_process(tmp_path) is True  # the first check asks GX
    (kept,) = (tmp_path / "collapse-guard").glob("gx-*-expectation-types.json")
    types = json.loads(kept.read_text())["types"]
    assert "expect_column_values_to_be_in_set" in types and "expect_table_row_count_to_be_between" in types
    assert check_in_a_fresh_process(tmp_path) is False  # the next ones read the file


def test_an_unreadable_list_is_asked_of_gx_again(tmp_path: Path):
    assert check_in_a_fresh_process(tmp_path) is True
    (kept,) = (tmp_path / "collapse-guard").glob("gx-*-expectation-types.json")
    kept.write_text("{not json")
    assert check_in_a_fresh_process(tmp_path) is True
    assert "expect_column_values_to_be_in_set" in json.loads(kept.read_text())["types"]  # and kept again
