"""params.yaml, read once, validated into typed objects and passed down.

Paths in params.yaml are relative to the directory that holds it (the workspace), so the same file
works from any current directory. Nothing reads params.yaml again after it is loaded.

This module holds the sections every kind of data shares (``Params``) and knows no modality: a modality
adds its own section by subclassing ``Params`` (collapse_guard/<modality>/params.py), and
``collapse_guard.modality.registry.load_params`` validates a file as the subclass its ``data.modality``
names, with ``read_params`` and ``validate_params`` below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, get_args, get_type_hints

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from collapse_guard.errors import ConfigError, PolicyForbidden

# The one list of mixing policies (collapse_guard.pipeline.mixing implements each). The modalities are listed
# where they are implemented: collapse_guard.modality.registry (which checks ``data.modality`` at load).
DriftReportMode = Literal["html", "summary", "off"]
PolicyName = Literal["accumulate", "replace", "accumulate-subsample", "fixed-ratio", "adaptive-ratio"]
POLICY_NAMES: tuple[str, ...] = get_args(PolicyName)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsParams(_Strict):
    anchor: str = "data/anchor/real.parquet"  # a folder: the anchor dataset (collapse_guard/records/anchor.py)
    generations_dir: str = "generations"
    reports_dir: str = "reports"
    ledger: str = "ledger/ledger.jsonl"
    expectations_dir: str = "expectations"
    quarantine_dir: str = "data/quarantine"  # ingest writes what it turned away here, with the reason
    # the paths a run writes (all but expectations_dir) stay inside the workspace unless this says otherwise
    allow_outside_workspace: bool = False

    WRITTEN: ClassVar[tuple[str, ...]] = ("anchor", "generations_dir", "reports_dir", "ledger", "quarantine_dir")


class TrackingParams(_Strict):
    mlflow_tracking_uri: str = "sqlite:///mlflow.db"
    mlflow_artifacts: str = "mlartifacts"
    experiment_name: str = "collapse-guard"
    dvc_remote: str = ".dvc-remote"
    dvc_track_outputs: bool = True
    dvc_push_timeout_seconds: float = Field(120, gt=0, le=86_400)  # a push not done by then: exit 9


class RunParams(_Strict):
    mode: Literal["production", "experiment"] = "production"
    seed: int = Field(7, ge=0, le=4_000_000)  # SeedSchedule draws base*1000+offset: kept below 2**32
    lock_wait_seconds: float = Field(0, ge=0, le=86_400)  # a busy workspace: wait this long, then exit 8


class DataParams(_Strict):
    modality: str = "tabular"  # a name in collapse_guard.modality.registry.MODALITIES
    source: str = "embedded"  # the modality's embedded default, or a path to your own data
    holdout_fraction: float = Field(0.2, gt=0, lt=0.9)


class ModelParams(_Strict):
    """Which generator to train (``package.module:ClassName``) and the options its constructor takes."""

    class_path: str = Field("collapse_guard.tabular.gmm:GaussianMixtureGenerator", alias="class")
    options: dict[str, Any] = Field(default_factory=lambda: {"components": 8, "epochs": 250})

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("class_path")
    @classmethod
    def _module_colon_class(cls, value: str) -> str:
        if value.count(":") != 1:
            raise ValueError("model.class must be 'package.module:ClassName'")
        return value


class DecodingParams(_Strict):
    """Sampling controls; every model honours the ones that make sense for it and records them all."""

    temperature: float = Field(1.0, gt=0, le=5)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0, le=100_000)  # 0 = off


class GenerationParams(_Strict):
    synthetic_per_generation: int = Field(800, ge=1, le=10_000_000)


class AdaptiveParams(_Strict):
    """adaptive-ratio: raise the real share fast when collapse shows, lower it slowly when it does not."""

    step_up: float = Field(0.1, gt=0, le=1)
    step_down: float = Field(0.02, ge=0, le=1)
    tolerance: float = Field(0.05, ge=0, le=1)
    min_real_fraction: float = Field(0.3, gt=0, le=1)
    max_real_fraction: float = Field(0.95, gt=0, le=1)


class MixingParams(_Strict):
    policy: PolicyName = "accumulate"
    real_fraction: float = Field(0.7, gt=0, le=1)
    training_size: int = Field(0, ge=0, le=100_000_000)  # accumulate-subsample: 0 = the anchor's train split size
    # replace: the share of each mixture drawn afresh from the real records (Shumailov et al. 2024 keep 0.1); 0 = none
    replace_real_fraction: float = Field(0.0, ge=0, lt=1)
    adaptive: AdaptiveParams = AdaptiveParams()


class GateParams(_Strict):
    # a number, or "auto": the last safe-zone certificate's r* (``experiment --safe-zone``) plus ``auto_margin``,
    # resolved once when a run starts (collapse_guard/pipeline/gate_floor.py)
    min_real_fraction: Annotated[float, Field(ge=0, le=1)] | Literal["auto"] = 0.25
    auto_margin: float = Field(0.05, ge=0, le=1)


class EvaluationParams(_Strict):
    sample_size: int = Field(4000, ge=100, le=10_000_000)
    knn_k: int = Field(5, ge=1, le=1000)
    tail_quantile: float = Field(0.05, gt=0, lt=0.5)
    rarity_mass: float = Field(0.03, gt=0, lt=0.5)
    # a group of anchor records under this share is rare: rare regions (the headline) and rare modes
    rare_share: float = Field(0.04, gt=0, lt=0.5)
    distribution_metrics: bool = True  # precision/recall, density/coverage, Wasserstein, MMD², Vendi
    max_kernel_rows: int = Field(1000, ge=50, le=100_000)  # subsample for the quadratic kernel metrics (MMD², Vendi)
    # anchor rows the tail region is built from (subsampled above)
    max_tail_rows: int = Field(20_000, ge=100, le=10_000_000)
    # a wider table's drift report covers a fixed sample of this many columns (Evidently draws one chart per column)
    max_drift_columns: int = Field(60, ge=1, le=100_000)
    # what Evidently's drift report leaves in a generation's folder: its page (drift.html), its metric values only
    # (drift.json: the preset's summary table and charts are not drawn), or no file. Evidently computes the drift
    # numbers in every mode, and they are recorded (metrics.json, MLflow, the ledger) in every mode.
    drift_report: DriftReportMode = "html"
    # column -> level to track per generation ("" = the column's rare levels): a slice the user names
    rare_slices: dict[str, str] = Field(default_factory=dict)
    # real rows (train and held-out split each) a tabular evaluation and its drift report compare against: a bigger
    # split is subsampled once per anchor version with a fixed seed, so the metrics' cost stops growing with the anchor
    max_reference_rows: int = Field(50_000, ge=100, le=100_000_000)
    # the metrics' independent parts run on Dask (tasks/cluster.py) from this many rows on, samples and held-out
    # reference counted; below, in this process with no cluster started (on 2 cores a local cluster never won:
    # docs/benchmarks/evaluation-dask.md)
    dask_min_rows: int = Field(2_000_000, ge=0, le=1_000_000_000)
    dask_workers: int = Field(2, ge=1, le=1024)  # local cluster's workers; DASK_SCHEDULER_ADDRESS wins


class SweepParams(_Strict):
    """The safe-zone sweep: fixed-ratio chains over anchor sizes × real fractions."""

    anchor_rows: list[Annotated[int, Field(ge=1, le=100_000_000)]] = Field(
        default_factory=lambda: [500, 1000, 2000, 3000]
    )
    real_fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 0.9])
    generations: int = Field(8, ge=1, le=1000)
    seeds: int = Field(1, ge=1, le=1000)


class SafeZoneParams(_Strict):
    """`collapse-guard experiment --safe-zone`: the smallest real fraction r* that keeps every headline metric
    within ``tolerance`` of generation 0 after ``generations`` fixed-ratio generations (pipeline/safe_zone.py)."""

    generations: int = Field(5, ge=1, le=1000)
    tolerance: float = Field(0.1, gt=0, le=10)  # relative: |metric_G / metric_0 - 1| at most this
    confidence: float = Field(0.9, gt=0.5, lt=1)  # of each "safe" / "unsafe" decision at a tested fraction
    seeds: int = Field(4, ge=2, le=1000)  # most chains per tested fraction; the full sweep runs this many at each
    step: float = Field(0.05, gt=0, le=0.5)  # the fractions tried are multiples of this (the full sweep's grid)
    budget: float = Field(0.2, gt=0, le=1)  # at most this share of the full sweep's model fits

    @field_validator("step")
    @classmethod
    def _divides_one(cls, value: float) -> float:
        if abs(round(1 / value) * value - 1) > 1e-9:
            raise ValueError("experiment.safe_zone.step must divide 1 (e.g. 0.05, 0.1, 0.025)")
        return value


class ExperimentParams(_Strict):
    """`collapse-guard experiment`: policies × generations × seeds, in memory (nothing is shipped)."""

    policies: list[PolicyName] = Field(default_factory=lambda: list(POLICY_NAMES))
    generations: int = Field(10, ge=1, le=1000)
    seeds: int = Field(3, ge=1, le=1000)
    synthetic_per_generation: int = Field(800, ge=1, le=10_000_000)
    # real records each policy chain starts from (0 = the whole train split)
    anchor_rows: int = Field(0, ge=0, le=100_000_000)
    decoding: DecodingParams = DecodingParams(temperature=0.9)
    tail_threshold: float = Field(0.5, gt=0, le=10)
    workers: int = Field(2, ge=1, le=256)
    output_dir: str = "reports/experiment"
    sweep: SweepParams = SweepParams()
    safe_zone: SafeZoneParams = SafeZoneParams()
    theory_scale: float = Field(1.0, gt=0, le=100)  # --theory: chains run = this × the default (tests run 0.1)


class ScheduleParams(_Strict):
    """``collapse-guard serve``: the Prefect deployment that runs guarded retraining on a schedule."""

    deployment: str = "scheduled"
    cron: str = "0 3 * * *"  # every day at 03:00 (``timezone``)
    timezone: str = "UTC"
    generations: int = Field(1, ge=1, le=1000)  # guarded generations per scheduled run

    @field_validator("cron")
    @classmethod
    def _a_cron_expression(cls, value: str) -> str:
        """Checked here, by the parser Prefect's own Cron schedule uses, not when ``serve`` hands it to Prefect."""
        from datetime import datetime

        from cronsim import CronSim, CronSimError

        if len(value.split()) != 5:
            raise ValueError(f"{value!r} is not a cron expression of 5 fields, e.g. '0 3 * * *'")
        try:
            CronSim(value, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise ValueError(f"{value!r} is not a valid cron expression ({exc})") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _a_known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a time zone name (e.g. 'UTC', 'Europe/Berlin')") from exc
        return value


class PromotionParams(_Strict):
    """MLflow Model Registry: which model the alias ``champion`` names (collapse_guard/pipeline/promotion.py)."""

    enabled: bool = True
    model_name: str = "collapse-guard"  # the registered model; each generation is a version of it
    tail_drop: float = Field(0.1, ge=0, le=10)  # the tail signal may fall this much below the champion's
    spread_drift: float = Field(0.15, ge=0, le=10)  # |variance ratio - 1| may exceed the champion's by this much
    loss_rise: float = Field(0.1, ge=0, le=1000)  # held-out real loss may rise this much (nats)


class AlertsParams(_Strict):
    """Where alerts go (Apprise URLs: ``json://host/path``, ``slack://...``, ``mailto://...``); none = log only."""

    urls: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(5, gt=0, le=120)  # per notification service
    # a recorded generation whose metric falls below its floor raises an alert (it is not blocked)
    metric_floors: dict[str, Annotated[float, Field(ge=-1e9, le=1e9)]] = Field(default_factory=dict)
    # the collapse forecast (``forecast:``) says a floor is crossed within this many generations: alert (0 = off)
    forecast_generations: float = Field(3, ge=0, le=1000)


class ForecastParams(_Strict):
    """Collapse forecast (collapse_guard/reports/forecast.py): a line through the last ``window`` generations of
    each metric with a floor (crossed below) or a ceiling (crossed above), with a prediction interval."""

    window: int = Field(5, ge=3, le=1000)  # generations the trend is fitted on (at least 3: a line and its error)
    half_life: float = Field(0.0, ge=0, le=1000)  # discounted least squares: weight halves per this many gens (0: off)
    level: float = Field(0.95, gt=0, lt=1)  # coverage of the prediction interval (an alert needs its far bound)
    horizon: int = Field(50, ge=1, le=10_000)  # generations ahead looked at; beyond is "not forecast"
    floors: dict[str, Annotated[float, Field(ge=-1e9, le=1e9)]] = Field(default_factory=dict)
    ceilings: dict[str, Annotated[float, Field(ge=-1e9, le=1e9)]] = Field(default_factory=dict)
    # metric with a floor -> a metric that leads it (e.g. tail_coverage: heldout_real_loss); the forecast is the
    # earlier of the metric's own line and the lead's line toward L0 + ln(1/floor) (reports/forecast.py)
    leads: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _leads_need_a_fraction_floor(self) -> ForecastParams:
        # the lead's ceiling is L0 + ln(1/floor): defined for a floor that is a fraction of the real data kept
        for metric, lead in self.leads.items():
            floor = self.floors.get(metric)
            if floor is None:
                raise ValueError(f"forecast.leads.{metric}: {metric!r} has no floor in forecast.floors")
            if not 0 < floor < 1:
                raise ValueError(f"forecast.leads.{metric}: its floor {floor:g} is not a fraction in (0, 1)")
            if lead == metric:
                raise ValueError(f"forecast.leads.{metric}: a metric cannot lead itself")
        return self


class CheckParams(_Strict):
    """``collapse-guard check``: a mixture made elsewhere (collapse_guard/pipeline/mixture_check.py)."""

    # a team's own column names -> the provenance column each stands for (e.g. {id: record_id, kind: source})
    columns: dict[str, str] = Field(default_factory=dict)


class TrainingParams(_Strict):
    """Where the train step runs: in the flow's process (``work_pool: ""``), or as a Prefect deployment on a work
    pool whose workers have the GPUs (flows/remote_training.py). The gated mixture goes there, and the model comes
    back, through ``exchange``: a folder both machines see, files named by their SHA-256."""

    work_pool: str = ""  # "": train in the flow's process
    deployment: str = "train"  # runs as collapse-guard-training/<deployment> on the pool
    exchange: str = ".collapse-guard/exchange"  # relative to the workspace, or absolute (a shared mount)
    timeout_seconds: float = Field(3600, gt=0, le=7 * 86_400)  # a training run not finished by then: exit 9


class Params(_Strict):
    paths: PathsParams = PathsParams()
    tracking: TrackingParams = TrackingParams()
    run: RunParams = RunParams()
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    decoding: DecodingParams = DecodingParams()
    generation: GenerationParams = GenerationParams()
    mixing: MixingParams = MixingParams()
    gate: GateParams = GateParams()
    evaluation: EvaluationParams = EvaluationParams()
    experiment: ExperimentParams = ExperimentParams()
    # a modality's own section (tabular:, text:) is a field of its subclass (collapse_guard/<modality>/params.py)
    alerts: AlertsParams = AlertsParams()  # collapse_guard/records/alerts.py
    promotion: PromotionParams = PromotionParams()  # MLflow Model Registry alias `champion`
    schedule: ScheduleParams = ScheduleParams()  # `collapse-guard serve` (flows/scheduled.py)
    forecast: ForecastParams = ForecastParams()  # collapse_guard/reports/forecast.py
    check: CheckParams = CheckParams()  # `collapse-guard check` (collapse_guard/pipeline/mixture_check.py)
    training: TrainingParams = TrainingParams()  # where the train step runs (flows/remote_training.py)
    workspace: Path = Path(".")
    source_file: str = "params.yaml"

    @model_validator(mode="after")
    def _written_paths_inside_the_workspace(self) -> Params:
        # a path that leads out of the workspace is written there, then fails every check that reads it back
        if self.paths.allow_outside_workspace:
            return self
        root = Path(self.workspace).resolve()
        for name in PathsParams.WRITTEN:
            where = self.resolve(getattr(self.paths, name)).resolve()
            if not where.is_relative_to(root):
                raise ValueError(
                    f"paths.{name} ({getattr(self.paths, name)}) leads out of the workspace ({root}); keep it "
                    "inside, or set paths.allow_outside_workspace: true"
                )
        return self

    @model_validator(mode="after")
    def _replace_only_in_experiments(self) -> Params:
        # Replacing real data with synthetic data is what collapses models (Shumailov et al. 2024);
        # it is allowed only to study that collapse, never to ship a model.
        if self.mixing.policy == "replace" and self.run.mode == "production":
            raise PolicyForbidden(
                "mixing.policy 'replace' is forbidden when run.mode is 'production': it discards the real "
                "anchor and collapses the model. Use 'accumulate', or set run.mode: experiment to study it",
                path=self.source_file,
            )
        return self

    @classmethod
    def of(cls, params: Params) -> Self:
        """``params`` as this class: itself if it is one; else its sections this class has, and this class's
        defaults for the rest (e.g. a modality's section, for params that were loaded for another modality)."""
        if isinstance(params, cls):
            return params
        return cls(**{name: getattr(params, name) for name in cls.model_fields if name in type(params).model_fields})

    def resolve(self, relative: str) -> Path:
        """A path from params.yaml, made absolute against the workspace."""
        path = Path(relative)
        return path if path.is_absolute() else self.workspace / path

    @property
    def anchor_path(self) -> Path:
        return self.resolve(self.paths.anchor)

    @property
    def ledger_path(self) -> Path:
        return self.resolve(self.paths.ledger)

    @property
    def tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` wins; a relative sqlite URI is anchored in the workspace."""
        uri = os.environ.get("MLFLOW_TRACKING_URI") or self.tracking.mlflow_tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
            return prefix + str(self.resolve(uri[len(prefix) :]))
        return uri


def read_params(path: Path | str = "params.yaml", overrides: dict | None = None) -> tuple[Path, dict]:
    """The params file's absolute path and its mapping of sections, with ``overrides`` (dotted keys:
    ``{"mixing.policy": "replace"}``) applied; not validated yet (``validate_params``)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(
            "params file not found: a workspace is the folder that holds its params.yaml (the project's root and "
            "examples/text are two); run the command there or pass --params FILE",
            path=str(path),
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"params file is not UTF-8 text (byte {exc.object[exc.start]:#04x} at position {exc.start}): save it "
            "as UTF-8",
            path=str(path),
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"params file is not valid YAML: {exc}", path=str(path)) from exc
    if not isinstance(raw, dict):
        raise ConfigError("params file must hold a mapping of sections", path=str(path))
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    return path, raw


def validate_params(params_type: type[Params], raw: dict, path: Path) -> Params:
    """``raw`` (from ``read_params``) validated as ``params_type``: a ConfigError naming every bad key and the
    file, or PolicyForbidden; ``model.options`` checked against the model's constructor."""
    try:
        params = params_type.model_validate({**raw, "workspace": path.parent, "source_file": str(path)})
    except PolicyForbidden:
        raise
    except ValidationError as exc:
        raise ConfigError(f"invalid params: {_problems(exc)}", path=str(path)) from exc
    check_model_options(params.model, str(path))
    return params


def _problems(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(f"{prefix}{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())


def check_model_options(model: ModelParams, source_file: str) -> None:
    """``model.options`` against the model's constructor: an unknown option, a wrong type or a value outside
    the range its annotation declares (``Annotated[int, Field(ge=1, le=...)]``) is a ConfigError naming the key.

    The class is imported by name (as params.yaml names it), so this module stays below the models.
    """
    import importlib
    import inspect

    from pydantic import create_model

    module_name, _, class_name = model.class_path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except Exception as exc:  # the module may fail in any way while it is imported: it is the user's code
        raise ConfigError(
            f"model.class {model.class_path!r} cannot be imported: {type(exc).__name__}: {exc}", path=source_file
        ) from exc
    try:
        hints = get_type_hints(cls.__init__, include_extras=True)
    except (NameError, TypeError):
        hints = {}
    fields: dict[str, Any] = {}
    open_ended = False
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind == parameter.VAR_POSITIONAL:
            continue
        if parameter.kind == parameter.VAR_KEYWORD:
            open_ended = True
            continue
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[name] = (hints.get(name, Any), default)
    config = ConfigDict(extra="allow" if open_ended else "forbid", arbitrary_types_allowed=True)
    try:
        create_model(f"{class_name}Options", __config__=config, **fields).model_validate(model.options)
    except ValidationError as exc:
        detail = _problems(exc, "model.options.").replace("Extra inputs are not permitted", "unknown option")
        raise ConfigError(f"invalid params for {model.class_path}: {detail}", path=source_file) from exc


def _set_dotted(tree: dict, dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
