"""Docstrings of installed packages: real technical English that ships with the environment, for the benchmarks
that need text no model of the project was trained on (benchmarks/watermark_robustness.py) or a corpus to
pretrain on (benchmarks/transformer_collapse.py)."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path


def installed_docstrings(packages: Iterable[str]) -> Iterator[tuple[Path, str]]:
    """(source file, docstring) of every module, class and function of ``packages`` that is installed, in a fixed
    order (package, then file path, then the AST's walk); test folders and unparseable files are skipped."""
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for path in sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.py")):
            if "tests" in path.parts:
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    doc = ast.get_docstring(node)
                    if doc:
                        yield path, doc
