"""The house rules, checked: the import graph has no circle and never reaches up a layer; the packaging
installs exactly the package folders (tasks/ and flows/ inside the project's namespace); dvc.yaml's
stages list the params sections their command reads."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

# Lower layers never import higher ones (docs/architecture.md draws this).
LAYERS: list[tuple[str, ...]] = [
    (  # foundation: errors, settings, atomic writes, the modality sections of params.yaml
        "collapse_guard.errors",
        "collapse_guard.offline",
        "collapse_guard.process_heap",
        "collapse_guard.config",
        "collapse_guard.tabular.params",
        "collapse_guard.text.params",
        "collapse_guard.records.atomic",
    ),
    ("collapse_guard.records",),  # record-keeping: provenance, anchor, ledger, DVC, MLflow, workspace
    ("collapse_guard.generator", "collapse_guard.reports", "collapse_guard.modality"),  # seams (not the registry)
    ("collapse_guard.tabular", "collapse_guard.text"),  # the modalities
    ("collapse_guard.modality.registry",),
    ("collapse_guard.pipeline",),  # the steps: curation, mixing, gate, one generation step, ingest
    ("collapse_guard.tasks",),
    ("collapse_guard.flows",),
    ("collapse_guard.cli",),
]
MODALITIES = ("collapse_guard.tabular", "collapse_guard.text")


def module_files() -> dict[str, Path]:
    """Every module of the installed package, by its installed name."""
    roots = {"collapse_guard": REPO / "collapse_guard", "collapse_guard.tasks": REPO / "tasks"}
    roots["collapse_guard.flows"] = REPO / "flows"
    modules = {}
    for prefix, root in roots.items():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([prefix, *parts])] = path
    return modules


def layer_of(module: str) -> int:
    best, depth = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = index, len(prefix)
    return best


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's own modules that ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name for name in names if name in modules}
    return found


GRAPH = {name: imports_of(path, module_files()) for name, path in module_files().items()}


def test_every_module_has_a_layer():
    assert [m for m in GRAPH if layer_of(m) < 0 and m != "collapse_guard"] == []


def test_no_import_reaches_a_higher_layer_and_modalities_do_not_import_each_other():
    upward = [
        f"{source} -> {target}"
        for source, targets in GRAPH.items()
        for target in targets
        if source != "collapse_guard" and layer_of(target) > layer_of(source)
    ]
    assert upward == []
    across = [
        f"{source} -> {target}"
        for source, targets in GRAPH.items()
        for target in targets
        for mine in MODALITIES
        for other in MODALITIES
        if mine != other
        and source.startswith(mine + ".")
        and target.startswith(other + ".")
        and layer_of(target) == layer_of(source)
    ]
    assert across == []


def test_the_import_graph_has_no_circle():
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for target in sorted(GRAPH.get(node, ())):
            if target.startswith(node + "."):
                continue  # a package importing its own submodule is not a circle
            if state.get(target) == "open":
                pytest.fail("import circle: " + " -> ".join([*path[path.index(target) :], target]))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_modality_interface_imports_no_modality():
    assert not any(t.startswith(MODALITIES) for t in GRAPH["collapse_guard.modality.base"])


def test_packaging_lists_every_package_folder_and_installs_no_top_level_tasks_or_flows():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name for name, path in module_files().items() if path.name == "__init__.py"}
    assert set(config["packages"]) == folders
    assert not any(p.split(".")[0] in ("tasks", "flows") for p in config["packages"])
    assert config["package-dir"] == {"collapse_guard.tasks": "tasks", "collapse_guard.flows": "flows"}


# What `collapse-guard run` reads, by modality: every section but the experiment's and the other modality's.
NOT_READ_BY_RUN = {"tabular": {"experiment", "text", "schedule"}, "text": {"experiment", "tabular", "schedule"}}


@pytest.mark.parametrize(
    ("stage", "params_file", "modality"),
    [("guarded_generation", "params.yaml", "tabular"), ("guarded_generation_text", "params-text.yaml", "text")],
)
def test_each_dvc_stage_lists_the_params_sections_its_run_reads(stage: str, params_file: str, modality: str):
    from collapse_guard.config import Params

    stage_spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]
    listed = stage_spec["params"]
    if params_file != "params.yaml":
        (entry,) = listed
        listed = entry[params_file]
    sections = set(Params.model_fields) - {"workspace", "source_file"}
    assert set(listed) == sections - NOT_READ_BY_RUN[modality]
    assert yaml.safe_load((REPO / params_file).read_text())["data"]["modality"] == modality
    assert f"--params {params_file}" in stage_spec["cmd"] or params_file == "params.yaml"
