"""The documentation is checked like code: the site builds with strict checking (a broken link, a missing page or
anchor fails), the generated reference covers every command, params.yaml key, exit code, suite and ledger entry
kind, every `collapse-guard` command and `make` target a page tells the reader to type exists as written, and no
page tells the history of the code instead of what it does."""

from __future__ import annotations

import ast
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DOCS = REPO / "docs"
HISTORY = [  # phrases that describe a branch, a commit or an earlier version of the code rather than the code
    r"\bthis branch\b",
    r"\bmain at [0-9a-f]{7}",
    r"\b(before|after) \([0-9a-f]{7,40}\)",
    r"\bcommit [0-9a-f]{7,40}\b",
    r"\b(was|used to be) \d+(\.\d+)?\s?[x×] (slower|faster)\b",
    r"\bin (the|an) (earlier|older|previous) version\b",
]


def reference():
    spec = importlib.util.spec_from_file_location("docs_reference", DOCS / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return reference().pages()


def pages_to_read() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]


def test_the_site_builds_with_strict_checking(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for page in ("reference/cli", "reference/params", "reference/ledger", "reference/exit-codes"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page


def test_the_reference_covers_every_command(generated):
    for name in reference().commands():
        assert f"## `{name}`" in generated["reference/cli.md"], name


def test_the_reference_covers_every_key_of_the_params_files_and_of_the_models(generated):
    page = generated["reference/params.md"]
    documented = set(re.findall(r"^\| `([\w.]+)` \|", page, re.M))
    for name in ("params.yaml", "examples/text/params.yaml"):
        for key in leaf_keys(yaml.safe_load((REPO / name).read_text())):
            # a free-form mapping (model.options, alerts.metric_floors) is documented as one key
            assert any(key == d or key.startswith(d + ".") for d in documented), f"{name}: {key}"
    assert {row["key"] for row in reference().params_rows()} == documented


def leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    """Dotted keys of a params file, down to the values."""
    keys = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            keys += leaf_keys(value, dotted + ".")
        else:
            keys.append(dotted)
    return keys


def test_the_reference_covers_every_exit_code_suite_expectation_and_metric(generated):
    from collapse_guard.errors import EXIT_CODES
    from collapse_guard.modality.registry import MODALITIES

    for code in EXIT_CODES:
        assert f"\n| {code} | " in generated["reference/exit-codes.md"], code
    suites_page = generated["reference/suites.md"]
    for name, suite in reference().suites().items():
        assert f"## `{name}`" in suites_page
        for expectation in suite["expectations"]:
            assert expectation["meta"]["description"].split("(")[0].strip() in suites_page
    for name in MODALITIES:
        assert f"## {name}" in generated["reference/metrics.md"]


def test_every_ledger_kind_the_code_appends_is_in_the_reference(generated):
    from collapse_guard.records.entry_kinds import KINDS

    appended = appended_kinds()
    assert appended and appended <= set(KINDS), appended - set(KINDS)
    for kind in KINDS:
        assert f"## `{kind}`" in generated["reference/ledger.md"], kind


def appended_kinds() -> set[str]:
    """The entry kinds the code passes to ``ledger.append`` (literals, and module constants it names)."""
    import importlib

    found: set[str] = set()
    roots = {"collapse_guard": REPO / "collapse_guard", "collapse_guard.tasks": REPO / "tasks"}
    for package, root in roots.items():
        for path in root.rglob("*.py"):
            module_name = ".".join([package, *path.relative_to(root).with_suffix("").parts]).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr != "append" or not isinstance(node.func.value, ast.Name):
                    continue
                if node.func.value.id != "ledger" or len(node.args) < 2:
                    continue
                kind = node.args[1]
                if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                    found.add(kind.value)
                elif isinstance(kind, ast.Name | ast.Attribute):
                    try:  # a module constant it names; a local variable is left to the end-to-end ledgers
                        value = eval(ast.unparse(kind), vars(importlib.import_module(module_name)))
                    except (NameError, AttributeError):
                        continue
                    if isinstance(value, str):
                        found.add(value)
    return found


def test_every_command_a_page_tells_the_reader_to_type_exists_as_written():
    from click.exceptions import Exit

    commands = reference().commands()
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
    checked = 0
    for page in pages_to_read():
        for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                words = shlex.split(line.split(" #")[0]) if line else []
                words = [w for w in words if "=" not in w or w.startswith("-")]  # VAR=value prefixes
                while words and words[0] in ("PREFECT_API_URL", "export"):
                    words = words[1:]
                if words[:1] == ["make"]:
                    assert all(t in targets for t in words[1:] if "=" not in t), f"{page.name}: {line}"
                    checked += 1
                elif words[:1] == ["collapse-guard"]:
                    parse(commands, words, f"{page.relative_to(REPO)}: {line}", Exit)
                    checked += 1
    assert checked >= 20


def parse(commands: dict, words: list[str], where: str, exit_type: type) -> None:
    """Parse ``words`` with the command's own parser (unknown options and missing arguments fail); nothing runs."""
    for length in (3, 2):
        name = " ".join(words[:length])
        if name in commands:
            command = commands[name]
            try:
                command.make_context(name, [w for w in words[length:] if w != "--help"])
            except exit_type:
                pass
            except Exception as error:  # a usage error: an option or argument that does not exist as written
                raise AssertionError(f"{where}: {error}") from error
            return
    raise AssertionError(f"{where}: no such command")


@pytest.mark.parametrize("page", pages_to_read(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_tells_the_history_of_the_code(page: Path):
    text = page.read_text()
    for pattern in HISTORY:
        assert not re.search(pattern, text, re.I), f"{page.name}: {re.search(pattern, text, re.I).group(0)!r}"


def test_the_readme_is_short_and_its_exit_codes_are_the_codes():
    from collapse_guard.errors import EXIT_CODES

    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert set(map(int, re.findall(r"^\| (\d+) \|", readme, re.M))) == set(EXIT_CODES)
