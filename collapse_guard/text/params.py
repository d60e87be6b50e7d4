"""The ``text:`` section of params.yaml: what only text needs, and ``ParamsWithText``, the params of a text
workspace (collapse_guard.modality.registry loads a file as it when ``data.modality`` is text).

The watermark's scheme names are parsed here (``scheme_of``), below the watermark itself, so that a wrong
name in params.yaml or in an override is refused when the params are loaded, not when text is first scored.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from collapse_guard.config import Params
from collapse_guard.errors import ConfigError

DEFAULT_SCHEME = "lefthash-h1"
MAX_CONTEXT = 8
# ``selfhash`` without a width: h = 4, the width Kirchenbauer et al. (2024) recommend for SelfHash (robust
# to edits nearly as much as h = 1, while the green list can no longer be read off bigram statistics)
SELFHASH_DEFAULT_CONTEXT = 4


@dataclass(frozen=True)
class Scheme:
    """How the green list is seeded: ``context`` previous tokens (h), and whether the candidate token takes
    part in the min-hash (``self_salt``). ``lefthash-h1`` is the original scheme, bit for bit. ``name`` is
    canonical (``selfhash`` reads as ``selfhash-h4``): records and provenance always carry the width."""

    name: str
    context: int
    self_salt: bool


def scheme_of(name: str | Scheme | None) -> Scheme:
    """Parse ``lefthash-h1``, ``selfhash-hN`` (2 <= N <= 8) or ``selfhash`` (N = ``SELFHASH_DEFAULT_CONTEXT``);
    None or "" means the default. Anything else is a ConfigError listing the valid names."""
    if isinstance(name, Scheme):
        return name
    name = DEFAULT_SCHEME if name is None or name == "" else str(name)
    if name == DEFAULT_SCHEME:
        return Scheme(name, 1, False)
    if name == "selfhash":
        name = f"selfhash-h{SELFHASH_DEFAULT_CONTEXT}"
    prefix, _, width = name.partition("-h")
    if prefix == "selfhash" and width.isdigit() and str(int(width)) == width and 2 <= int(width) <= MAX_CONTEXT:
        return Scheme(name, int(width), True)
    raise ConfigError(
        f"unknown watermark scheme {name!r} (expected {DEFAULT_SCHEME}, selfhash-hN with 2 <= N <= {MAX_CONTEXT}, "
        f"or selfhash = selfhash-h{SELFHASH_DEFAULT_CONTEXT})"
    )


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddedTextParams(_Section):
    """The embedded real text: prose paragraphs of the Python manual that ships with the interpreter."""

    min_words: int = Field(30, ge=1, le=10_000)  # shorter paragraphs are left out
    max_documents: int = Field(0, ge=0, le=100_000_000)  # 0 = all of them (about 600); tests use fewer


class WatermarkParams(_Section):
    """Green-list watermark (Kirchenbauer et al. 2023). The key itself is never here: it is read from
    COLLAPSE_GUARD_WATERMARK_KEY or ``key_file`` (created by ``init``, kept out of git)."""

    enabled: bool = True
    gamma: float = Field(0.25, gt=0, lt=1)
    delta: float = Field(2.0, ge=0, le=20)
    key_file: str = ".collapse-guard/watermark.key"
    known_key_files: list[str] = Field(default_factory=list)  # retired keys: ingest still screens with them
    z_threshold: float = Field(4.0, gt=0, le=100)  # not used by the verdict (the scan's bound, fpr, is)
    window: int = Field(200, ge=10, le=100_000)  # not used: the scan tries every window size; kept for old files
    scheme: str = (
        DEFAULT_SCHEME  # green-list seeding: lefthash-h1 (previous word), selfhash-hN (N = 2..8); selfhash = h4
    )
    # per-document false-positive rate of a "marked" verdict, whatever the number of keys and schemes screened
    # (the screen's bound is Bonferroni-corrected for them: docs/watermark-detection.md)
    fpr: float = Field(1e-4, gt=0, lt=1)
    uncertain_fpr: float = Field(1e-2, gt=0, lt=1)  # above fpr, up to this: "uncertain"
    tokenizer: str = ""  # a Hugging Face tokenizer.json: also screen with it (text from a subword model)
    external_detectors: list[str] = Field(default_factory=list)  # "pkg.mod:fn", fn(texts) -> one bool per text

    @field_validator("scheme")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        """A scheme name is checked at load (params.yaml or an override) and stored canonical."""
        try:
            return scheme_of(value).name
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc


class DedupParams(_Section):
    """Near-duplicates by MinHash LSH over word shingles (Broder 1997; Lee et al. 2022)."""

    shingle_size: int = Field(3, ge=1, le=64)
    num_perm: int = Field(128, ge=16, le=4096)
    threshold: float = Field(0.7, gt=0, le=1)  # estimated Jaccard similarity that makes a near-duplicate
    batch_documents: int = Field(100_000, ge=1, le=10_000_000)  # crawl documents read and screened at a time
    dask_workers: int = Field(2, ge=1, le=1024)  # local cluster (screening, curation); DASK_SCHEDULER_ADDRESS wins
    # a generation's synthetic texts are hashed on Dask from this many on, an ingested crawl's batches past this
    # many (below: in-process, no cluster started).
    # High by default: on 2 cores a local cluster first beat one process at 1M documents
    # (docs/benchmarks/curation-dask.md)
    dask_min_documents: int = Field(1_000_000, ge=0, le=1_000_000_000)


class TextGateParams(_Section):
    """The text gate's thresholds (expectations/text.json)."""

    max_unwatermarked_share: float = Field(0.02, ge=0, le=1)  # synthetic records whose watermark fails
    max_near_duplicate_share: float = Field(0.05, ge=0, le=1)  # synthetic near-copies in the mixture
    max_edit_fragile_share: float = Field(1.0, ge=0, le=1)  # synthetic text too short to survive 25 % edits


class TextParams(_Section):
    embedded: EmbeddedTextParams = EmbeddedTextParams()
    watermark: WatermarkParams = WatermarkParams()
    dedup: DedupParams = DedupParams()
    gate: TextGateParams = TextGateParams()
    metric_tokens: int = Field(20_000, ge=100, le=100_000_000)  # token budget of the sample-based text metrics
    tail_mass: float = Field(0.05, gt=0, lt=0.5)  # the anchor's rarest words holding this share are its tail


class ParamsWithText(Params):
    """params.yaml of a text workspace: the shared sections (collapse_guard.config.Params) and ``text:``."""

    text: TextParams = TextParams()
