"""The reference pages of the docs site, generated from the code at every build so they cannot drift:

- ``reference/cli.md``: every command and option, from the Typer app;
- ``reference/params.md``: every params.yaml key with its type, range and default, from the pydantic models (and the
  comment params.yaml gives it);
- ``reference/exit-codes.md``: from collapse_guard/errors.py;
- ``reference/suites.md``: every expectation of every suite in expectations/, with the sentence it fails with;
- ``reference/ledger.md``: every ledger entry kind and its fields, from collapse_guard/records/entry_kinds.py;
- ``reference/metrics.md``: every recorded metric, from the modalities' metric catalogs.

A MkDocs hook (``hooks:`` in mkdocs.yml): ``on_files`` adds the pages as generated files. tests/test_docs.py imports
``pages()`` to check that they cover everything.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
GENERATED = "Generated from the code at every build of this site: it says what the code does."
PARAMS_FILES = ("params.yaml", "examples/text/params.yaml")


def pages() -> dict[str, str]:
    """Generated page path (under docs/) -> its Markdown."""
    return {
        "reference/cli.md": cli_page(),
        "reference/params.md": params_page(),
        "reference/exit-codes.md": exit_codes_page(),
        "reference/suites.md": suites_page(),
        "reference/ledger.md": ledger_page(),
        "reference/metrics.md": metrics_page(),
    }


def on_files(files, config):  # the MkDocs hook
    from mkdocs.structure.files import File

    for path, content in pages().items():
        files.append(File.generated(config, path, content=content))
    return files


# -- the command line ----------------------------------------------------------------------------------------------
def commands() -> dict[str, object]:
    """``collapse-guard <words>`` -> its click command, every command and subcommand of the app."""
    import typer.main

    from collapse_guard.cli import app

    found: dict[str, object] = {}

    def walk(command, words: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, child in subcommands.items():  # as the app registers them
                walk(child, [*words, name])
        else:
            found[" ".join(["collapse-guard", *words])] = command

    walk(typer.main.get_command(app), [])
    return found


def cli_page() -> str:
    from collapse_guard.cli import app

    lines = ["# Command line", "", GENERATED, "", _clean(app.info.help or ""), ""]
    for name, command in commands().items():
        lines += [f"## `{name}`", "", _clean(command.help or ""), ""]
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        options = [p for p in command.params if p.param_type_name == "option"]
        if arguments:
            usage = " ".join(a.name.upper() for a in arguments)
            lines += [f"Usage: `{name} [OPTIONS] {usage}`", ""]
            for argument in arguments:
                lines.append(f"- `{argument.name.upper()}`: {_clean(getattr(argument, 'help', '') or '')}")
            lines.append("")
        lines += ["| option | what it does | default |", "| --- | --- | --- |"]
        for option in options:
            flags = ", ".join(f"`{o}`" for o in option.opts)
            taking = "" if option.is_flag else f" `{option.bare_type().upper()}`"
            default = "" if option.is_flag and not option.default else _default(option.default)
            lines.append(f"| {flags}{taking} | {_cell(option.help or '')} | {default} |")
        lines.append("| `--help` | show this help and exit | |")
        lines.append("")
    return "\n".join(lines)


# -- params.yaml ---------------------------------------------------------------------------------------------------
def params_models() -> list[tuple[str, type]]:
    """(section prefix, pydantic model) for params.yaml's model with every modality's own section."""
    from collapse_guard.modality.registry import every_section

    return [("", every_section())]


def params_rows() -> list[dict[str, str]]:
    """One row per params.yaml key: dotted key, type, range, default, and the comment params.yaml gives it."""
    from pydantic import BaseModel

    comments = {**yaml_comments(REPO / "examples/text/params.yaml"), **yaml_comments(REPO / "params.yaml")}
    shipped = {name: _flat(yaml.safe_load((REPO / name).read_text(encoding="utf-8"))) for name in PARAMS_FILES}
    rows: list[dict[str, str]] = []

    def walk(model: type, prefix: str) -> None:
        for name, info in model.model_fields.items():
            if info.exclude or name in ("workspace", "source_file"):
                continue
            key = f"{prefix}{info.alias or name}"
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, key + ".")
                continue
            rows.append(
                {
                    "key": key,
                    "type": _type_name(annotation),
                    "range": _range(info),
                    "default": _default(info.get_default(call_default_factory=True)),
                    "shipped": "; ".join(
                        _shipped(values[key], name) for name, values in shipped.items() if key in values
                    ),
                    "description": info.description or comments.get(key) or source_comments(model).get(name, ""),
                }
            )

    for prefix, model in params_models():
        walk(model, prefix)
    return rows


def params_page() -> str:
    lines = [
        "# params.yaml",
        "",
        GENERATED,
        "",
        "Every tunable, validated once when a command starts (an unknown key, a wrong type or a value out of range is "
        "a configuration error, exit code 2, naming the key and the file). Paths are relative to the folder that "
        "holds the file. *default* is the value a key left out of the file takes; *params.yaml sets* is the value "
        "the shipped params.yaml (or examples/text/params.yaml, for the text workspace) gives it.",
    ]
    section = None
    for row in params_rows():
        top = row["key"].split(".")[0]
        if top != section:
            section = top
            lines += [
                "",
                f"## `{top}`",
                "",
                "| key | type | range | default | what it sets |",
                "| --- | --- | --- | --- | --- |",
            ]
        lines.append(
            f"| `{row['key']}` | {_cell(row['type'])} | {_cell(row['range'])} | {row['default']} | "
            f"{row['shipped']} | {_cell(row['description'])} |"
        )
    return "\n".join(lines) + "\n"


def _shipped(value: object, file: str) -> str:
    shown = _default(value) or '`""`'
    return shown if file == "params.yaml" else f"{shown} ({file})"


def _flat(tree: dict, prefix: str = "") -> dict[str, object]:
    """Dotted key -> value of a params file (a mapping is also kept whole under its own key)."""
    flat: dict[str, object] = {}
    for key, value in (tree or {}).items():
        dotted = f"{prefix}{key}"
        flat[dotted] = value
        if isinstance(value, dict):
            flat.update(_flat(value, dotted + "."))
    return flat


def yaml_comments(path: Path) -> dict[str, str]:
    """Dotted key -> the comment on its line in a commented params file (how the file documents each knob)."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\s*)([A-Za-z_][\w-]*):(.*)$", line)
        if not match:
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([*(k for _, k in stack), key])
        comment = _trailing_comment(rest)
        if comment:
            found[dotted] = comment
        stack.append((indent, key))
    return found


def _trailing_comment(rest: str) -> str:
    """The comment after a key's value (``key: value  # comment``), or a comment that stands for the value."""
    parts = re.split(r"(?:^|\s)#\s?", rest, maxsplit=1)
    return parts[1].strip() if len(parts) == 2 else ""


def source_comments(model: type) -> dict[str, str]:
    """Field name -> the comment on its line in the model's source (config.py documents most fields that way)."""
    try:
        source = inspect.getsource(model)
    except (OSError, TypeError):
        return {}
    found = {}
    for match in re.finditer(r"^\s+(\w+): [^\n]*?#\s*([^\n]+)$", source, re.M):
        found.setdefault(match.group(1), match.group(2).strip())
    return found


# -- exit codes, suites, ledger, metrics ---------------------------------------------------------------------------
def exit_codes_page() -> str:
    from collapse_guard import errors

    by_code = {cls.exit_code: cls for cls in _subclasses(errors.CollapseGuardError) if "exit_code" in vars(cls)}
    lines = [
        "# Exit codes",
        "",
        GENERATED,
        "",
        "Every command exits with one of these; with `--json` the error is also printed as "
        '`{"error": {"type", "message", "exit_code"}}` on stdout. The message names the cause and the file.',
        "",
        "| code | meaning | error | when |",
        "| --- | --- | --- | --- |",
    ]
    for code, meaning in sorted(errors.EXIT_CODES.items()):
        cls = by_code.get(code)
        name = f"`{cls.__name__}`" if cls is not None else ""
        when = _cell(inspect.getdoc(cls) or "") if cls is not None else ""
        lines.append(f"| {code} | {_cell(meaning)} | {name} | {when} |")
    return "\n".join(lines) + "\n"


def suites() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted((REPO / "expectations").glob("*.json"))}


def suites_page() -> str:
    lines = [
        "# Expectation suites",
        "",
        GENERATED,
        "",
        "The Great Expectations suites in `expectations/`. Each suite's `meta.applies_to` says which frame it "
        'validates; `{"$PARAMETER": name}` values are filled at run time (recorded in the ledger with each verdict). '
        "A failed expectation is reported with its sentence, filled with what was observed.",
    ]
    for name, suite in suites().items():
        meta = suite["meta"]
        scope = f"applies to **{meta['applies_to']}**" + (f", {meta['modality']} only" if meta.get("modality") else "")
        lines += [
            "",
            f"## `{name}`",
            "",
            f"{meta.get('description', '')} ({scope}; file `expectations/{name}.json`)",
            "",
        ]
        lines += ["| # | rule | expectation | when it fails |", "| --- | --- | --- | --- |"]
        for index, expectation in enumerate(suite["expectations"]):
            rule = (expectation.get("meta") or {}).get("description", "")
            sentence = (expectation.get("meta") or {}).get("sentence", "(the rule and what was observed)")
            kwargs = ", ".join(f"{k}={_short(v)}" for k, v in expectation.get("kwargs", {}).items())
            lines.append(f"| {index} | {_cell(rule)} | `{expectation['type']}`({_cell(kwargs)}) | {_cell(sentence)} |")
    return "\n".join(lines) + "\n"


def ledger_page() -> str:
    from collapse_guard.records.entry_kinds import COMMON_FIELDS, KINDS

    lines = [
        "# Ledger entries",
        "",
        GENERATED,
        "",
        "The audit ledger (`ledger/ledger.jsonl`) is append-only JSON lines, each entry holding the hash of the one "
        "before: `seq`, `kind`, `at` (UTC), `body`, `prev`, `hash`. A signed workspace also signs its head. The kinds:",
        "",
        "| kind | written by | means |",
        "| --- | --- | --- |",
    ]
    lines += [f"| [`{k.name}`](#{k.name}) | {_cell(k.written_by)} | {_cell(k.means)} |" for k in KINDS.values()]
    for kind in KINDS.values():
        lines += ["", f"## `{kind.name}`", "", f"{kind.means}. Written by {kind.written_by}.", ""]
        lines += ["| field | holds |", "| --- | --- |"]
        lines += [f"| `{name}` | {_cell(text)} |" for name, text in {**kind.fields, **COMMON_FIELDS}.items()]
    return "\n".join(lines) + "\n"


def metrics_page() -> str:
    from collapse_guard.modality.metric_catalog import DERIVED
    from collapse_guard.modality.registry import MODALITIES

    lines = [
        "# Metrics",
        "",
        GENERATED,
        "",
        "What each generation records (ledger `generation_recorded`, MLflow, the run summary, the Evidently report, "
        "under one name and one value everywhere).",
    ]
    for name, registered in MODALITIES.items():
        module, _, cls = registered.implementation.partition(":")
        modality = getattr(__import__(module, fromlist=[cls]), cls)
        lines += [
            "",
            f"## {name}",
            "",
            "| metric | what it measures | healthy | direction |",
            "| --- | --- | --- | --- |",
        ]
        for info in modality.metric_catalog.values():
            lines.append(f"| `{info.name}` | {_cell(info.means)} | {_cell(info.healthy)} | {_cell(info.direction)} |")
    lines += ["", "## Derived names", "", "| name | what it records |", "| --- | --- |"]
    lines += [f"| `{pattern}` | {_cell(means)} |" for pattern, means in DERIVED.items()]
    return "\n".join(lines) + "\n"


# -- formatting ----------------------------------------------------------------------------------------------------
def _subclasses(cls: type) -> list[type]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in _subclasses(child))]


def _clean(text: str) -> str:
    return inspect.cleandoc(text).replace("\b", "")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _short(value: object) -> str:
    shown = json.dumps(value)
    return shown if len(shown) <= 60 else shown[:57] + "…"


def _default(value: object) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, Path):
        value = str(value)
    return f"`{_cell(json.dumps(value, default=str))}`"


def _type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


def _range(info) -> str:
    bounds = []
    for item in info.metadata:
        for attribute, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attribute, None)
            if value is not None:
                bounds.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
    return ", ".join(bounds)
