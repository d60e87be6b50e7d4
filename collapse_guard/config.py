"""params.yaml, read once, validated into typed objects and passed down.

Paths in params.yaml are relative to the directory that holds it (the workspace), so the same file
works from any current directory. Nothing below this module reads params.yaml again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from collapse_guard.errors import ConfigError, PolicyForbidden


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsParams(_Strict):
    anchor: str = "data/anchor/real.parquet"
    generations_dir: str = "generations"
    reports_dir: str = "reports"
    ledger: str = "ledger/ledger.jsonl"
    expectations_dir: str = "expectations"


class TrackingParams(_Strict):
    mlflow_tracking_uri: str = "sqlite:///mlflow.db"
    mlflow_artifacts: str = "mlartifacts"
    experiment_name: str = "collapse-guard"
    dvc_remote: str = ".dvc-remote"
    dvc_track_outputs: bool = True


class RunParams(_Strict):
    mode: Literal["production", "experiment"] = "production"
    seed: int = 7


class EmbeddedDataParams(_Strict):
    rows: int = Field(4000, ge=50)
    rare_weight: float = Field(0.025, gt=0, lt=0.2)


class EmbeddedTextParams(_Strict):
    """The embedded real text: prose paragraphs of the Python manual that ships with the interpreter."""

    min_words: int = Field(30, ge=1)  # shorter paragraphs are left out
    max_documents: int = Field(0, ge=0)  # 0 = all of them (about 600); tests use fewer


class DataParams(_Strict):
    modality: Literal["tabular", "text"] = "tabular"
    source: str = "embedded"
    embedded: EmbeddedDataParams = EmbeddedDataParams()
    embedded_text: EmbeddedTextParams = EmbeddedTextParams()
    holdout_fraction: float = Field(0.2, gt=0, lt=0.9)


class ModelParams(_Strict):
    """Which generator to train (``package.module:ClassName``) and the options its constructor takes."""

    class_path: str = Field("collapse_guard.models.gmm:GaussianMixtureGenerator", alias="class")
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
    top_k: int = Field(0, ge=0)  # 0 = off


class GenerationParams(_Strict):
    synthetic_per_generation: int = Field(800, ge=1)


class AdaptiveParams(_Strict):
    """adaptive-ratio: raise the real share fast when collapse shows, lower it slowly when it does not."""

    step_up: float = Field(0.1, gt=0, le=1)
    step_down: float = Field(0.02, ge=0, le=1)
    tolerance: float = Field(0.05, ge=0)
    min_real_fraction: float = Field(0.3, gt=0, le=1)
    max_real_fraction: float = Field(0.95, gt=0, le=1)


class CurationParams(_Strict):
    near_copy_radius: float = Field(0.01, ge=0)  # in anchor standard deviations; 0 = exact copies only


class MixingParams(_Strict):
    policy: Literal["accumulate", "replace", "accumulate-subsample", "fixed-ratio", "adaptive-ratio"] = "accumulate"
    real_fraction: float = Field(0.7, gt=0, le=1)
    training_size: int = Field(0, ge=0)  # accumulate-subsample: 0 = the anchor's train split size
    adaptive: AdaptiveParams = AdaptiveParams()


class GateParams(_Strict):
    min_real_fraction: float = Field(0.25, ge=0, le=1)
    max_unwatermarked_share: float = Field(0.02, ge=0, le=1)  # text: synthetic records whose watermark fails
    max_near_duplicate_share: float = Field(0.05, ge=0, le=1)  # text: synthetic near-copies in the mixture


class WatermarkParams(_Strict):
    """Green-list watermark (Kirchenbauer et al. 2023). The key itself is never here: it is read from
    COLLAPSE_GUARD_WATERMARK_KEY or ``key_file`` (created by ``init``, kept out of git)."""

    enabled: bool = True
    gamma: float = Field(0.25, gt=0, lt=1)
    delta: float = Field(2.0, ge=0)
    key_file: str = ".collapse-guard/watermark.key"
    known_key_files: list[str] = Field(default_factory=list)  # retired keys: ingest still screens with them
    z_threshold: float = Field(4.0, gt=0)  # legacy (the verdict is now the scan's bound, fpr); shown by detect
    window: int = Field(200, ge=10)  # legacy (fixed sliding window); detection now scans every window size
    scheme: str = "lefthash-h1"  # green-list seeding: lefthash-h1 (previous word) or selfhash-hN (N = 2..8)
    fpr: float = Field(1e-4, gt=0, lt=1)  # per-document false-positive rate of a "marked" verdict
    uncertain_fpr: float = Field(1e-2, gt=0, lt=1)  # above fpr, up to this: "uncertain"
    tokenizer: str = ""  # a Hugging Face tokenizer.json: also screen with it (text from a subword model)
    external_detectors: list[str] = Field(default_factory=list)  # "pkg.mod:fn", fn(texts) -> one bool per text
    max_edit_fragile_share: float = Field(1.0, ge=0, le=1)  # gate: synthetic text too short to survive 25 % edits


class DedupParams(_Strict):
    """Near-duplicates by MinHash LSH over word shingles (Broder 1997; Lee et al. 2022)."""

    shingle_size: int = Field(3, ge=1)
    num_perm: int = Field(128, ge=16)
    threshold: float = Field(0.7, gt=0, le=1)  # estimated Jaccard similarity that makes a near-duplicate


class TextParams(_Strict):
    """What only text needs: watermark, near-duplicate detection and the text metrics' sizes."""

    watermark: WatermarkParams = WatermarkParams()
    dedup: DedupParams = DedupParams()
    metric_tokens: int = Field(20_000, ge=100)  # token budget of the sample-based text metrics
    tail_mass: float = Field(0.05, gt=0, lt=0.5)  # the anchor's rarest words holding this share are its tail
    quarantine_dir: str = "data/quarantine"  # ingest writes detected synthetic documents here


class EvaluationParams(_Strict):
    sample_size: int = Field(4000, ge=100)
    knn_k: int = Field(5, ge=1)
    tail_quantile: float = Field(0.05, gt=0, lt=0.5)
    rarity_mass: float = Field(0.03, gt=0, lt=0.5)
    distribution_metrics: bool = True  # precision/recall, density/coverage, Wasserstein, MMD², Vendi
    max_kernel_rows: int = Field(1000, ge=50)  # subsample for the quadratic kernel metrics (MMD², Vendi)
    max_tail_rows: int = Field(20_000, ge=100)  # anchor rows the tail region is built from (subsampled above)


class SweepParams(_Strict):
    """The safe-zone sweep: fixed-ratio chains over anchor sizes × real fractions."""

    anchor_rows: list[int] = Field(default_factory=lambda: [500, 1000, 2000, 3000])
    real_fractions: list[float] = Field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 0.9])
    generations: int = Field(8, ge=1)
    seeds: int = Field(1, ge=1)


class ExperimentParams(_Strict):
    """`collapse-guard experiment`: policies × generations × seeds, in memory (nothing is shipped)."""

    policies: list[str] = Field(
        default_factory=lambda: ["replace", "accumulate", "accumulate-subsample", "fixed-ratio", "adaptive-ratio"]
    )
    generations: int = Field(10, ge=1)
    seeds: int = Field(3, ge=1)
    synthetic_per_generation: int = Field(800, ge=1)
    anchor_rows: int = Field(0, ge=0)  # real records each policy chain starts from (0 = the whole train split)
    decoding: DecodingParams = DecodingParams(temperature=0.9)
    tail_threshold: float = Field(0.5, gt=0)
    workers: int = Field(2, ge=1)
    output_dir: str = "reports/experiment"
    sweep: SweepParams = SweepParams()

    @field_validator("policies")
    @classmethod
    def _known_policies(cls, value: list[str]) -> list[str]:
        known = {"replace", "accumulate", "accumulate-subsample", "fixed-ratio", "adaptive-ratio"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown policies {unknown}; known: {sorted(known)}")
        return value


class Params(_Strict):
    paths: PathsParams = PathsParams()
    text: TextParams = TextParams()
    tracking: TrackingParams = TrackingParams()
    run: RunParams = RunParams()
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    decoding: DecodingParams = DecodingParams()
    generation: GenerationParams = GenerationParams()
    curation: CurationParams = CurationParams()
    mixing: MixingParams = MixingParams()
    gate: GateParams = GateParams()
    evaluation: EvaluationParams = EvaluationParams()
    experiment: ExperimentParams = ExperimentParams()
    workspace: Path = Path(".")
    source_file: str = "params.yaml"

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


def load_params(path: Path | str = "params.yaml", overrides: dict | None = None) -> Params:
    """Read and validate params.yaml; ``overrides`` are dotted keys (``{"mixing.policy": "replace"}``)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError("params file not found; run `collapse-guard init` or pass --params", path=str(path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"params file is not valid YAML: {exc}", path=str(path)) from exc
    if not isinstance(raw, dict):
        raise ConfigError("params file must hold a mapping of sections", path=str(path))
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    try:
        return Params.model_validate({**raw, "workspace": path.parent, "source_file": str(path)})
    except PolicyForbidden:
        raise
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid params: {problems}", path=str(path)) from exc


def _set_dotted(tree: dict, dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
