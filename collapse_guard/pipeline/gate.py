"""The gate: Great Expectations suites that block a bad mixture before it reaches training.

The suites live as JSON in ``expectations/`` so that a change to what the gate enforces is reviewed
in a diff. Each suite's ``meta.applies_to`` says which frame it validates (``mixture``, ``anchor``,
``incoming``: real data at the door, see collapse_guard.pipeline.door, or ``promotion``: a trained model's
margins over the champion, see collapse_guard.pipeline.promotion)
and each expectation's ``meta.description`` is the plain sentence printed when it fails. Values that
come from params.yaml or from the last recorded anchor are ``{"$PARAMETER": name}`` placeholders,
filled at run time; every verdict keeps the values it filled and the SHA-256 of each suite file it ran
(``GateVerdict.parameters`` and ``suites``), so the ledger can say what was applied. Checks GX cannot
express on its own (the anchor being append-only, record ids matching their payload) are computed here and
either reported directly or exposed as ``_``-prefixed boolean columns the suites assert on.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.errors import ConfigError
from collapse_guard.pipeline.mixing import ANCHOR_SHARE_SOURCE, FILE_COLUMN
from collapse_guard.records.anchor import AnchorRecord, check_append_only
from collapse_guard.records.provenance import RECORD_ID, provenance_flags


@dataclass(frozen=True)
class GateFailure:
    suite: str
    check: str  # the expectation type (or a check made outside GX: append_only, binding)
    message: str  # the operator's sentence
    files: list[str] = field(default_factory=list)
    rule: str = ""  # the rule broken, as the suite states it (its ``meta.description``)

    def __str__(self) -> str:
        where = f" (in {', '.join(self.files)})" if self.files else ""
        return f"[{self.suite}] {self.message}{where}"


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    failures: list[GateFailure]
    results: dict[str, dict]  # GX validation result JSON, per suite
    parameters: dict = field(default_factory=dict)  # every ``$PARAMETER`` value filled, by name
    suites: dict[str, str] = field(default_factory=dict)  # suite name -> SHA-256 of the JSON file that was run

    @property
    def status(self) -> str:
        return "passed" if self.passed else "blocked"

    def describe(self) -> str:
        checked = sum(int((r.get("statistics") or {}).get("evaluated_expectations", 0)) for r in self.results.values())
        if self.passed:
            return f"passed ({checked} expectations)"
        return f"blocked: {len(self.failures)} of {max(checked, len(self.failures))} checks failed"

    def to_dict(self) -> dict:
        return {"passed": self.passed, "failures": [asdict(f) for f in self.failures]}


# The frames a suite may validate (``meta.applies_to``), and the ``$PARAMETER`` values every evaluation fills.
FRAMES: tuple[str, ...] = ("anchor", "mixture", "incoming", "promotion")
CORE_PARAMETERS: tuple[str, ...] = ("min_real_fraction", "recorded_anchor_rows", "expected_columns", "min_anchor_share")
DOOR_PARAMETERS: tuple[str, ...] = ("min_incoming_rows", "incoming_columns")  # filled by pipeline.door
PROMOTION_PARAMETERS: tuple[str, ...] = ("tail_drop", "spread_drift", "loss_rise")  # filled by pipeline.promotion
# Where each core value comes from, in the words the ledger records (``applied.sources``).
CORE_SOURCES: dict[str, str] = {
    "min_real_fraction": "params.yaml gate.min_real_fraction",
    "recorded_anchor_rows": "ledger: rows of the last recorded anchor",
    "expected_columns": "the anchor's columns as read, and the mixture's file column",
    "min_anchor_share": ANCHOR_SHARE_SOURCE,
}
# Checks across the two frames (collapse_guard.pipeline.gate.inclusion_flags): an anchor training record the
# mixture lacks, and a mixture record that is held out (never to be trained on).
MISSING_FROM_MIXTURE = "_missing_from_mixture"
HELD_OUT_RECORD = "_held_out_record"


def load_suites(
    expectations_dir: Path,
    modality: str = "tabular",
    parameters: Iterable[str] | None = None,
    frames: Iterable[str] = FRAMES,
) -> dict[str, dict]:
    """The suites that apply to ``modality`` (those whose ``meta.modality`` names it, and those without one)
    and validate one of ``frames``.

    Every suite is checked like code when it is loaded (a suite that cannot check anything must not pass):
    an unknown expectation type, an unknown ``meta.applies_to``, no expectations, or (when ``parameters``
    names the values that will be filled) a ``$PARAMETER`` with no value is a ConfigError naming the file.
    """
    suites = {}
    for path in sorted(Path(expectations_dir).glob("*.json")):
        suite = _read_suite(path)
        if suite["meta"].get("modality", modality) == modality and suite["meta"]["applies_to"] in frames:
            _check_parameters(suite, path, parameters)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            suites[suite.get("name", path.stem)] = {
                **suite,
                "_applies_to": suite["meta"]["applies_to"],
                "_sha256": digest,
            }
    if not suites:
        raise ConfigError("no expectation suites found", path=str(expectations_dir))
    return suites


def _read_suite(path: Path) -> dict:
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
        applies_to, expectations = suite["meta"]["applies_to"], suite["expectations"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"expectation suite is not valid ({type(exc).__name__}: {exc})", path=str(path)) from exc
    if applies_to not in FRAMES:
        raise ConfigError(f"meta.applies_to {applies_to!r} is unknown (known: {', '.join(FRAMES)})", path=str(path))
    if not isinstance(expectations, list) or not expectations:
        raise ConfigError("the suite has no expectations: it would check nothing and pass", path=str(path))
    known = _known_expectation_types()
    for index, expectation in enumerate(expectations):
        kind = expectation.get("type") if isinstance(expectation, dict) else None
        if kind not in known:
            raise ConfigError(f"expectation {index} has an unknown type {kind!r}", path=str(path))
    return suite


def _check_parameters(suite: dict, path: Path, parameters: Iterable[str] | None) -> None:
    if parameters is None:
        return
    available = set(parameters)
    for index, expectation in enumerate(suite["expectations"]):
        for name in _placeholders(expectation.get("kwargs", {})):
            if name not in available:
                raise ConfigError(
                    f"expectation {index} ({expectation['type']}) uses $PARAMETER {name!r}, which has no value "
                    f"(values: {', '.join(sorted(available))})",
                    path=str(path),
                )


def _placeholders(value: object) -> list[str]:
    """The ``{"$PARAMETER": name}`` names anywhere in an expectation's kwargs."""
    if isinstance(value, dict):
        if "$PARAMETER" in value:
            return [str(value["$PARAMETER"])]
        return [name for item in value.values() for name in _placeholders(item)]
    if isinstance(value, list):
        return [name for item in value for name in _placeholders(item)]
    return []


@functools.cache
def _known_expectation_types() -> frozenset[str]:
    """Every expectation type GX registers when it is imported (snake case, as the suites spell them).

    Every command checks its suites before it does anything else, and importing GX costs about 3 CPU seconds:
    the list is kept in a file per GX version (``known_types_file``) and read from there, so GX is imported
    where it validates (the gate, the door), not to check names. Without a readable or writable file, GX is asked.
    """
    from importlib import metadata

    from collapse_guard.records import atomic

    kept = known_types_file(metadata.version("great-expectations"))
    try:
        return frozenset(json.loads(kept.read_text(encoding="utf-8"))["types"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # registers the core expectations
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    known = frozenset(list_registered_expectation_implementations())
    with contextlib.suppress(OSError):
        atomic.write_json(kept, {"great_expectations": gx.__version__, "types": sorted(known)})
    return known


def known_types_file(version: str) -> Path:
    """Where the expectation types of GX ``version`` are kept: the user's cache folder ($XDG_CACHE_HOME, or
    ~/.cache), shared by every workspace, since it depends only on the installed GX."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "collapse-guard" / f"gx-{version}-expectation-types.json"


def check_suites(expectations_dir: Path, modality: str, extra_parameters: Iterable[str] = ()) -> None:
    """Load every suite of ``modality`` once, before anything runs, so a broken suite stops the command
    (exit 2) instead of failing, or passing unchecked, at the gate."""
    load_suites(
        expectations_dir, modality, (*CORE_PARAMETERS, *DOOR_PARAMETERS, *PROMOTION_PARAMETERS, *extra_parameters)
    )


FlagMaker = Callable[[pd.DataFrame], pd.DataFrame]


class Checked:
    """A frame as the suites see it: the records and their derived ``_`` check columns (in that column order),
    kept apart so that each GX validation gets only the columns its expectations name (``select``)."""

    def __init__(self, records: pd.DataFrame, flags: pd.DataFrame | None = None) -> None:
        self.records = _positional(records)
        self.flags = pd.DataFrame(index=self.records.index) if flags is None else _positional(flags)

    @property
    def columns(self) -> list:
        return [*self.records.columns, *self.flags.columns]

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, column: object) -> bool:
        return column in self.records.columns or column in self.flags.columns

    def __getitem__(self, column: str) -> pd.Series:
        return self.records[column] if column in self.records.columns else self.flags[column]

    def with_flags(self, flags: pd.DataFrame) -> Checked:
        """The same records with more derived ``_`` columns (after the ones it has)."""
        return Checked(self.records, pd.concat([self.flags, _positional(flags)], axis=1))

    def select(self, columns: set[str] | None, rows: bool = True) -> pd.DataFrame:
        """A new frame of ``columns`` (None: all), in the frame's column order; ``rows=False``: none of its rows."""
        parts = [
            part.loc[:, [c in columns for c in part.columns]] if columns is not None else part
            for part in (self.records, self.flags)
        ]
        if not rows:
            parts = [part.iloc[:0] for part in parts]
        return pd.concat(parts, axis=1)


def _positional(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` indexed 0..n-1 (GX reports failing rows by index); copied only when it is not already."""
    return frame if frame.index.equals(pd.RangeIndex(len(frame))) else frame.reset_index(drop=True)


def with_flags(frame: pd.DataFrame, extra_flags: FlagMaker | None = None) -> Checked:
    """The frame the suites see: the records plus the derived ``_`` check columns (and a modality's own)."""
    flags = provenance_flags(frame).reset_index(drop=True)
    if extra_flags is not None:
        flags = pd.concat([flags, extra_flags(frame).reset_index(drop=True)], axis=1)
    return Checked(frame, flags)


def inclusion_flags(
    anchor: pd.DataFrame, mixture: pd.DataFrame, held_out: np.ndarray | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(anchor flags, mixture flags) of the checks across the two frames, by record id:

    ``_missing_from_mixture`` (anchor rows): a record of the anchor's training split the mixture lacks (None on
    held-out rows, which GX then skips); ``_held_out_record`` (mixture rows): a record of the held-out split,
    which measures the model on real data it never saw and so must never be trained on. ``held_out`` is the
    anchor's held-out mask (None: nothing is held out). A mixture without record ids gets None everywhere: the
    provenance suite names the missing column."""
    held = np.zeros(len(anchor), dtype=bool) if held_out is None else np.asarray(held_out, dtype=bool)
    missing = pd.Series(None, index=anchor.index, dtype=object, name=MISSING_FROM_MIXTURE)
    in_held_out = pd.Series(None, index=mixture.index, dtype=object, name=HELD_OUT_RECORD)
    if RECORD_ID in mixture and RECORD_ID in anchor:
        anchor_ids = anchor[RECORD_ID].astype(str)
        mixture_ids = mixture[RECORD_ID].astype(str)
        absent = ~anchor_ids.isin(mixture_ids.to_numpy()).to_numpy()
        missing[~held] = list(absent[~held])
        in_held_out[:] = list(mixture_ids.isin(anchor_ids[held].to_numpy()).to_numpy())
    return missing.to_frame(), in_held_out.to_frame()


def evaluate(
    *,
    anchor: pd.DataFrame,
    mixture: pd.DataFrame,
    recorded_anchor: AnchorRecord | None,
    min_real_fraction: float,
    expectations_dir: Path,
    anchor_path: str,
    mixture_path: str = "the mixture",
    modality: str = "tabular",
    extra_flags: FlagMaker | None = None,
    extra_parameters: dict | None = None,
    extra_failures: list[GateFailure] | None = None,
    held_out: np.ndarray | None = None,
    min_anchor_share: float = 1.0,
) -> GateVerdict:
    """Validate the anchor and the mixture with the suites for ``modality``; ``extra_flags`` adds the
    modality's derived columns and ``extra_parameters`` its ``$PARAMETER`` values. ``held_out`` is the anchor's
    held-out mask (None: nothing is held out) and ``min_anchor_share`` the share of its training split the
    mixture must hold (collapse_guard.pipeline.mixing.anchor_share_floor)."""
    frames = {"anchor": with_flags(anchor, extra_flags), "mixture": with_flags(mixture, extra_flags)}
    missing, in_held_out = inclusion_flags(anchor, mixture, held_out)
    frames = {"anchor": frames["anchor"].with_flags(missing), "mixture": frames["mixture"].with_flags(in_held_out)}
    # the mixture's columns are the anchor's records and the checks both carry, its own check and its file column
    shared = [c for c in frames["anchor"].columns if c != MISSING_FROM_MIXTURE]
    expected_columns = [*shared, HELD_OUT_RECORD, FILE_COLUMN]
    parameters = {
        "min_real_fraction": min_real_fraction,
        "recorded_anchor_rows": recorded_anchor.rows if recorded_anchor else 0,
        "expected_columns": expected_columns,
        "min_anchor_share": min_anchor_share,
        **(extra_parameters or {}),
    }
    failures = [
        GateFailure("anchor", "append_only", problem, [anchor_path])
        for problem in check_append_only(anchor, recorded_anchor, anchor_path)
    ] + list(extra_failures or [])
    results = {}
    context = _ephemeral_context()
    suites = load_suites(expectations_dir, modality, parameters, frames=frames)
    for name, suite in suites.items():
        frame = frames[suite["_applies_to"]]
        result = _validate(context, name, suite, frame, parameters)
        results[name] = result
        default_file = anchor_path if suite["_applies_to"] == "anchor" else mixture_path
        failures += _describe_failures(name, result, frame, default_file=default_file)
    return GateVerdict(
        passed=not failures,
        failures=failures,
        results=results,
        parameters=parameters,
        suites={name: suite["_sha256"] for name, suite in suites.items()},
    )


def validate_frame(
    frame: pd.DataFrame,
    *,
    applies_to: str,
    expectations_dir: Path,
    parameters: dict,
    default_file: str,
    modality: str = "tabular",
    words: dict[str, str] | None = None,
) -> GateVerdict:
    """Validate one frame with the suites that apply to it (e.g. ``promotion``: a model's margins), as a verdict
    that keeps GX's results and the parameters and suite digests it applied (``words``: as for ``check_frame``)."""
    failures: list[GateFailure] = []
    results = {}
    suites = load_suites(expectations_dir, modality, parameters, frames=(applies_to,))
    context = _ephemeral_context()
    checked = Checked(frame)
    for name, suite in suites.items():
        results[name] = _validate(context, name, suite, checked, parameters)
        failures += _describe_failures(name, results[name], checked, default_file=default_file, words=words)
    return GateVerdict(
        passed=not failures,
        failures=failures,
        results=results,
        parameters=dict(parameters),
        suites={name: suite["_sha256"] for name, suite in suites.items()},
    )


def check_frame(
    frame: pd.DataFrame,
    *,
    applies_to: str,
    expectations_dir: Path,
    parameters: dict,
    default_file: str,
    modality: str = "tabular",
    words: dict[str, str] | None = None,
) -> list[GateFailure]:
    """Validate one frame with the suites that apply to it (e.g. ``incoming``: real data at the door); its failures.
    ``words`` are names the suites' sentences may use (e.g. the promotion suite's ``tail``: the tail metric)."""
    return validate_frame(
        frame,
        applies_to=applies_to,
        expectations_dir=expectations_dir,
        parameters=parameters,
        default_file=default_file,
        modality=modality,
        words=words,
    ).failures


@functools.cache
def _ephemeral_context():
    """One in-memory GX context per process: nothing is written, suites come from expectations/. GX saves its
    project configuration on every suite, data source and validation definition it is given (a third of a gate's
    time went there), so the context and what it holds are built once and reused (``_definition``)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    # GX pins this module's logger to INFO and announces a temp docs folder on every context
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


# GX's context is not safe to use from two threads at once (an experiment's chains run on a thread pool)
_GX_LOCK = threading.RLock()
_DEFINITIONS: dict[str, object] = {}  # a validation definition per (name, expectations, meta), in the context


def _definition(context, name: str, expectations: list[dict], meta: dict):
    """The context's validation definition of ``expectations`` (a suite's, or a part of it) under ``name``:
    made the first time, then reused, so a validation costs only GX's validating. The definition runs on the
    frame it is given at each run; a suite whose file changed gets a definition of its own."""
    import great_expectations as gx

    key = json.dumps([name, expectations, meta], sort_keys=True, default=str)
    found = _DEFINITIONS.get(key)
    if found is not None:
        return found
    taken = {definition.name for definition in _DEFINITIONS.values()}
    unique = name if name not in taken else f"{name}#{len(_DEFINITIONS)}"
    # GX writes into what it is given (its version into ``meta``): it gets copies, the key stays what was read
    gx_suite = context.suites.add(
        gx.ExpectationSuite(name=unique, expectations=copy.deepcopy(expectations), meta=copy.deepcopy(meta))
    )
    batch = context.data_sources.add_pandas(f"{unique}-source").add_dataframe_asset(unique)
    found = context.validation_definitions.add(
        gx.ValidationDefinition(name=unique, data=batch.add_batch_definition_whole_dataframe("whole"), suite=gx_suite)
    )
    _DEFINITIONS[key] = found
    return found


# Expectations that read only the column names, and those that read only the number of rows.
SCHEMA_ONLY = frozenset(
    {
        "expect_column_to_exist",
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
    }
)
ROWS_ONLY = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"})


def columns_read(expectation: dict) -> set[str] | None:
    """The columns a row-level expectation reads (its column kwargs and its ``row_condition``); None when that
    cannot be told from its kwargs (a ``$PARAMETER`` column, a string condition): it is given every column."""
    kwargs = expectation.get("kwargs", {})
    if expectation.get("type") in ROWS_ONLY:
        return set()
    names: set[str] = set()
    for key in ("column", "column_A", "column_B", "column_list"):
        value = kwargs.get(key)
        values = value if isinstance(value, list) else [value] if value is not None else []
        if not all(isinstance(v, str) for v in values):
            return None
        names.update(values)
    condition = kwargs.get("row_condition")
    condition_columns = _condition_columns(condition) if condition else set()
    if not names or condition_columns is None:
        return None
    return names | condition_columns


def _condition_columns(condition: object) -> set[str] | None:
    """The ``{"name": column}`` references of a structured row_condition (None: a string one, not parsed here)."""
    if isinstance(condition, str):
        return None
    return _named_in(condition)


def _named_in(value: object) -> set[str] | None:
    found: set[str] = set()
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        if key == "column":  # a column reference: {"name": ...}; any other form is not read here
            if not (isinstance(item, dict) and isinstance(item.get("name"), str)):
                return None
            found.add(item["name"])
            continue
        inner = _named_in(item)
        if inner is None:
            return None
        found |= inner
    return found


def _validate(context, name: str, suite: dict, frame: Checked, parameters: dict) -> dict:
    """One suite's GX result. Each expectation is validated by GX on what it reads: the ones that read only
    column names on the frame's columns with no rows, the others on the frame's rows restricted to the columns
    they name, one validation per set of columns (GX fingerprints the frame it is given and copies it per
    expectation: at a million rows the columns an expectation does not read were most of the gate's time).
    An expectation whose columns cannot be told is validated on the whole frame. The parts make the result."""
    expectations = suite["expectations"]
    groups: dict[frozenset[str] | None, list[int]] = {}
    for i, expectation in enumerate(expectations):
        if expectation.get("type") in SCHEMA_ONLY:
            continue
        named = columns_read(expectation)
        groups.setdefault(None if named is None else frozenset(named), []).append(i)
    if None in groups:  # the whole frame is validated anyway: one validation for every row-level expectation
        groups = {None: sorted(i for members in groups.values() for i in members)}
    counts = groups.pop(frozenset(), [])  # row counts read no column: they go with any rows
    if counts:
        first = next(iter(groups), frozenset(frame.columns[:1]))
        groups[first] = sorted([*groups.get(first, []), *counts])
    parts = []
    schema = [i for i, e in enumerate(expectations) if e.get("type") in SCHEMA_ONLY]
    if schema:
        no_rows = frame.select(None, rows=False)
        parts.append(_run_gx(context, f"{name}:columns", suite, schema, no_rows, parameters))
    for number, (columns, members) in enumerate(groups.items()):
        selected = frame.select(None if columns is None else set(columns))
        parts.append(
            _run_gx(context, name if number == 0 else f"{name}:{number}", suite, members, selected, parameters)
        )
    return _merged(name, parts)


def _run_gx(context, name: str, suite: dict, indices: list[int], frame: pd.DataFrame, parameters: dict) -> dict:
    expectations = [suite["expectations"][i] for i in indices]
    with _GX_LOCK:
        definition = _definition(context, name, expectations, suite.get("meta", {}))
        result = definition.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters,
            # the failing rows' indices name the files; the query text that would re-select them is not used
            result_format={"result_format": "COMPLETE", "return_unexpected_index_query": False},
        )
        return result.to_json_dict()


def _merged(name: str, parts: list[dict]) -> dict:
    """One suite result from the results of its parts (each in the order GX returned it, as one run would)."""
    if len(parts) == 1:
        return {**parts[0], "suite_name": name}
    results = [item for part in parts for item in part["results"]]
    passed = sum(bool(item["success"]) for item in results)
    merged = {**parts[-1], "suite_name": name, "results": results, "success": passed == len(results)}
    merged["statistics"] = {
        "evaluated_expectations": len(results),
        "successful_expectations": passed,
        "unsuccessful_expectations": len(results) - passed,
        "success_percent": 100.0 * passed / len(results) if results else None,
    }
    return merged


def _describe_failures(
    suite: str, result: dict, frame: Checked, default_file: str, words: dict[str, str] | None = None
) -> list[GateFailure]:
    failures = []
    for item in result["results"]:
        if item["success"]:
            continue
        config, outcome = item["expectation_config"], item.get("result") or {}
        exception = item.get("exception_info") or {}
        description = (config.get("meta") or {}).get("description", config["type"])
        if exception.get("raised_exception"):
            message = f"{description}: could not be checked ({exception.get('exception_message')})"
        else:
            message = sentence(config, outcome, frame, words)
        failures.append(
            GateFailure(
                suite=suite,
                check=config["type"],
                message=message,
                files=_files_of(outcome.get("unexpected_index_list"), frame) or [default_file],
                rule=description,
            )
        )
    return failures


def sentence(config: dict, outcome: dict, frame: Checked, words: dict[str, str] | None = None) -> str:
    """A failed expectation in an operator's words: its ``meta.sentence`` filled with what was observed and the
    bound it broke (``facts``), e.g. "real fraction 0.64 is below the floor 0.90 (gate.min_real_fraction)". A
    suite of one's own without sentences (or a sentence naming a fact this failure lacks) gets the generic form:
    the expectation's ``meta.description`` and what Great Expectations observed. Derived ``_`` columns never
    appear in either."""
    meta = config.get("meta") or {}
    description = meta.get("description", config["type"])
    template = meta.get("sentence")
    if template:
        try:
            return template.format(**{**(words or {}), **facts(config, outcome, frame)})
        except (KeyError, ValueError, IndexError, TypeError):
            pass  # a fact this failure does not have: the generic form below says it
    column = config["kwargs"].get("column")
    if isinstance(column, str) and column not in frame.columns:
        return f"column '{column}' is missing ({description})"
    return f"{description}: {_observed(config, outcome, frame)}"


def facts(config: dict, outcome: dict, frame: Checked) -> dict[str, object]:
    """What a sentence may name: ``failing`` and ``checked`` rows, ``failing_share`` and ``passing_share`` of them
    (the real fraction, for the mixture's real-data rule), the bound (``mostly``, ``allowed_share`` = 1 - mostly,
    ``min_value``, ``max_value``), the ``observed`` value of an aggregate, ``values`` (the offending values, e.g. the
    column a derived rule names), ``examples`` (records by id, or rows), ``column_differences`` (a schema rule:
    the columns missing and not expected), and ``column``."""
    kwargs = config["kwargs"]
    found: dict[str, object] = {k: kwargs[k] for k in ("mostly", "min_value", "max_value", "column") if k in kwargs}
    if "mostly" in kwargs:
        found["allowed_share"] = 1 - kwargs["mostly"]
    if "unexpected_count" in outcome:
        failing = int(outcome["unexpected_count"])
        checked = int(outcome.get("element_count", len(frame)) - outcome.get("missing_count", 0))
        found.update(failing=failing, checked=checked)
        found["failing_share"] = failing / max(checked, 1)
        found["passing_share"] = 1 - found["failing_share"]
        shown = [v for v in (outcome.get("partial_unexpected_list") or []) if isinstance(v, str) and v]
        found["values"] = ", ".join(dict.fromkeys(shown)) or "-"
        found["examples"] = _examples(outcome, frame, kwargs.get("column"), values=False) or "-"
    if "observed_value" in outcome:
        found["observed"] = outcome["observed_value"]
    mismatched = (outcome.get("details") or {}).get("mismatched") or {}
    if mismatched:
        differences = []
        for key, said in (("missing", "missing"), ("unexpected", "not expected")):
            named = [str(c) for c in mismatched.get(key) or [] if not str(c).startswith("_")]
            if named:
                differences.append(f"{said}: {', '.join(repr(c) for c in named)}")
        found["column_differences"] = "; ".join(differences) or "different order"
    return found


def _observed(config: dict, outcome: dict, frame: Checked) -> str:
    """What GX saw, in words: how many rows of how many checked, and which records (by id) or values."""
    if "unexpected_count" in outcome:
        count = outcome["unexpected_count"]
        # GX skips nulls, and a row_condition narrows what is checked: element_count is what it looked at
        checked = outcome.get("element_count", len(frame)) - outcome.get("missing_count", 0)
        text = f"{count} of {checked} checked rows fail ({100 * count / max(checked, 1):.1f}%)"
        mostly = config["kwargs"].get("mostly")
        if mostly is not None:
            text += f", at most {100 * (1 - mostly):.1f}% allowed"
        example = _examples(outcome, frame, config["kwargs"].get("column"))
        return f"{text}; {example}" if example else text
    if "observed_value" in outcome:
        value = outcome["observed_value"]
        if isinstance(value, list):  # a table's columns: the derived ``_`` ones are ours, not the data's
            value = [v for v in value if not str(v).startswith("_")]
        shown = f"{value:.4g}" if isinstance(value, float) else repr(value)  # a margin, not float noise
        return f"observed {shown} against {_bounds(config['kwargs'])}"
    return "failed"


def _examples(outcome: dict, frame: Checked, column: str | None, values: bool = True) -> str:
    """Up to three offending records by id, after up to three offending ``values`` (a derived ``_`` check column
    shows only the culprit it names, e.g. a column)."""
    rows = [i for i in (outcome.get("unexpected_index_list") or []) if isinstance(i, int) and 0 <= i < len(frame)]
    records = []
    if RECORD_ID in frame and rows:
        records = [str(r)[:12] for r in frame[RECORD_ID].iloc[rows[:3]] if isinstance(r, str)]
    shown = (outcome.get("partial_unexpected_list") or [])[:3]
    if str(column).startswith("_"):  # a derived check column shows only what names a culprit (a column), no flag
        shown = list(dict.fromkeys(v for v in shown if isinstance(v, str) and v))
    shown_values = [repr(v) if isinstance(v, str) and not v.strip() else str(v) for v in shown]
    parts = []
    if values and shown_values:
        parts.append("e.g. " + ", ".join(shown_values))
    if records:
        parts.append("records " + ", ".join(records))
    elif rows:  # data not yet stamped (at the door), or a record without an id: its rows, counted from 1
        parts.append("rows " + ", ".join(str(i + 1) for i in rows[:3]))
    return "; ".join(parts)


def _bounds(kwargs: dict) -> str:
    shown = {k: _without_derived(v) for k, v in kwargs.items() if k not in ("batch_id", "column")}
    return ", ".join(f"{k}={v!r}" for k, v in shown.items())


def _without_derived(value: object) -> object:
    """A list of columns without the derived ``_`` check columns (internal: never in a message)."""
    if isinstance(value, list):
        return [v for v in value if not str(v).startswith("_")]
    return value


def _files_of(index_list: list | None, frame: Checked) -> list[str]:
    if not index_list or FILE_COLUMN not in frame:
        return []
    rows = [i for i in index_list if isinstance(i, int) and 0 <= i < len(frame)]
    return sorted(frame[FILE_COLUMN].iloc[rows].dropna().astype(str).unique().tolist())
