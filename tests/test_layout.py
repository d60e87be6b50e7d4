"""The house rules, checked: the import graph has no circle and never reaches up a layer; the ground, the
records and the shared tasks import no modality, and the guarded flow names none; the packaging installs
exactly the package folders (tasks/ and flows/ inside the project's namespace); dvc.yaml's stages list the
params sections their command reads."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

# Lower layers never import higher ones (docs/architecture.md draws this).
LAYERS: list[tuple[str, ...]] = [
    (  # foundation: errors, settings (the sections every modality shares), atomic writes
        "collapse_guard.errors",
        "collapse_guard.offline",
        "collapse_guard.step_log",
        "collapse_guard.process_heap",
        "collapse_guard.config",
        "collapse_guard.records.atomic",
    ),
    ("collapse_guard.records",),  # record-keeping: provenance, anchor, ledger, DVC, MLflow, workspace
    ("collapse_guard.generator", "collapse_guard.reports", "collapse_guard.modality"),  # seams (not the registry)
    ("collapse_guard.tabular", "collapse_guard.text", "collapse_guard.theory"),  # the modalities; the theory's models
    ("collapse_guard.modality.registry",),  # data.modality -> its params and implementation; loads params.yaml
    ("collapse_guard.pipeline", "collapse_guard.guard"),  # the steps, and the API for a pipeline built elsewhere
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
            if target == node or target.startswith(node + "."):
                continue  # a package importing its own submodules (``from package import module``) is not a circle
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


def test_the_registry_lists_the_modalities_these_rules_cover():
    from collapse_guard.modality.registry import MODALITIES as REGISTERED

    packages = {entry.implementation.partition(":")[0].rsplit(".", 1)[0] for entry in REGISTERED.values()}
    assert packages == set(MODALITIES)
    assert {entry.params.__module__.rsplit(".", 1)[0] for entry in REGISTERED.values()} == set(MODALITIES)


def modality_tasks_of(module: str) -> str | None:
    """The modality a tasks module belongs to (``collapse_guard.tasks.text_screening``: text), or None: shared."""
    for modality in MODALITIES:
        if module.startswith(f"collapse_guard.tasks.{modality.rsplit('.', 1)[-1]}_"):
            return modality
    return None


def test_the_ground_the_records_and_the_shared_tasks_import_no_modality():
    shared = [
        module
        for module in GRAPH
        if module == "collapse_guard.config"
        or module.startswith("collapse_guard.records.")
        or (module.startswith("collapse_guard.tasks.") and modality_tasks_of(module) is None)
    ]
    assert "collapse_guard.tasks.cluster" in shared and "collapse_guard.records.anchor" in shared
    assert [f"{m} -> {t}" for m in shared for t in GRAPH[m] if t.startswith(MODALITIES)] == []


def test_a_modalitys_own_tasks_import_no_other_modality():
    owned = {module: modality_tasks_of(module) for module in GRAPH if modality_tasks_of(module)}
    assert "collapse_guard.tasks.text_screening" in owned
    across = [
        f"{module} -> {target}"
        for module, mine in owned.items()
        for target in GRAPH[module]
        if target.startswith(MODALITIES) and not target.startswith(mine + ".")
    ]
    assert across == []


def test_the_guarded_flow_names_no_modality():
    """Not in an import, a name, a string or a comment: it asks the modality for what differs."""
    source = (REPO / "flows" / "guarded_retraining.py").read_text()
    named = re.findall(r"(?<![A-Za-z])(?:text|tabular|Text|Tabular)(?![a-z])", source)
    assert named == []
    assert "modality" in source  # the check reads the flow it means to


def test_packaging_lists_every_package_folder_and_installs_no_top_level_tasks_or_flows():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name for name, path in module_files().items() if path.name == "__init__.py"}
    assert set(config["packages"]) == folders
    assert not any(p.split(".")[0] in ("tasks", "flows") for p in config["packages"])
    assert config["package-dir"] == {"collapse_guard.tasks": "tasks", "collapse_guard.flows": "flows"}


# What `collapse-guard run` reads, by modality: every section but the experiment's and the other modality's.
NOT_READ_BY_RUN = {
    "tabular": {"experiment", "text", "schedule", "check"},
    "text": {"experiment", "tabular", "schedule", "check"},
}


@pytest.mark.parametrize(("workspace", "modality"), [(".", "tabular"), ("examples/text", "text")])
def test_each_workspaces_dvc_stage_lists_the_params_sections_its_run_reads(workspace: str, modality: str):
    """Each workspace folder is its own DVC project: its dvc.yaml runs `collapse-guard run` on the params.yaml beside
    it and lists the sections that run reads (so `dvc repro` reruns when one of them changes)."""
    from collapse_guard.modality.registry import params_class

    folder = REPO / workspace
    stage_spec = yaml.safe_load((folder / "dvc.yaml").read_text())["stages"]["guarded_generation"]
    sections = set(params_class(modality).model_fields) - {"workspace", "source_file"}
    assert set(stage_spec["params"]) == sections - NOT_READ_BY_RUN[modality]
    assert yaml.safe_load((folder / "params.yaml").read_text())["data"]["modality"] == modality
    assert stage_spec["cmd"] == "collapse-guard run --generations 1"
