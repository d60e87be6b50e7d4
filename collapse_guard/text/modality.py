"""Text as a modality of the guarded pipeline: the anchor is real documents, the model a language model.

What text changes (see collapse_guard.modality for the interface): the embedded anchor is the Python
manual's prose; generation embeds the green-list watermark and stamps its key id and the decoding
settings on every record; curation drops exact and near-duplicates (MinHash LSH) and text whose
watermark is not detectable; collapse is measured on the vocabulary's tail; the gate also checks the
watermark labels and the near-duplicate share of the mixture.

Text's headline metrics (what summaries show first, and what adaptive-ratio watches) are the rare-token
mass retention (early collapse) and the effective-vocabulary ratio (late collapse); definitions in
collapse_guard.text.metrics.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import tempfile
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams, Params
from collapse_guard.errors import ConfigError
from collapse_guard.generator import Generator
from collapse_guard.modality.base import (
    EVALUATION_DECODING,
    CurationReport,
    Evaluation,
    Evaluator,
    Incoming,
    MetricRunner,
    Modality,
    heldout_loss,
    run_here,
    run_merged,
)
from collapse_guard.modality.metric_catalog import COMMON
from collapse_guard.records.anchor import AnchorSplit
from collapse_guard.records.provenance import stamp_real
from collapse_guard.reports.drift import DriftSummary, run_report
from collapse_guard.text.corpus import TEXT, default_corpus, iter_corpus, read_corpus
from collapse_guard.text.dedup import AnchorIndex, DedupSettings, ScreeningStream
from collapse_guard.text.index_file import index_path, sync
from collapse_guard.text.keyring import RETIRED, current_key, read_record, record_key, registry_path, retired_key_path
from collapse_guard.text.labels import DECODING, REAL_TEXT_LABELS, WATERMARK_KEY_ID
from collapse_guard.text.metric_catalog import TEXT_METRICS
from collapse_guard.text.metrics import effective_vocabulary_ratio, tail_vocabulary, text_metrics, tokens_of
from collapse_guard.text.params import ParamsWithText
from collapse_guard.text.screening import (
    BatchHasher,
    DocumentHasher,
    WatermarkScreen,
    curate_text,
    hash_batches_here,
    mixture_flags,
    triage_hashed,
)
from collapse_guard.text.watermark import (
    KEY_ENV,
    WatermarkConfig,
    WatermarkKey,
    create_key_file,
    read_key_file,
    text_token_ids,
)

log = logging.getLogger("collapse_guard.text")
DESCRIPTORS = ("tokens", "tail_token_share", "type_token_ratio")
HEADLINE = ("rare_token_mass_retention", "effective_vocabulary_ratio")
FIGURE_METRICS = {
    "rare_token_count_retention": "rare words still produced (1 = real)",
    "effective_vocabulary_ratio": "effective vocabulary ratio (1 = real)",
    "distinct_2": "distinct-2",
    "heldout_perplexity": "held-out real perplexity",
}


class TextModality(Modality):
    name = "text"
    headline = HEADLINE
    headline_labels = ("rare-word ret", "vocab ratio")
    figure_metrics = FIGURE_METRICS
    metric_catalog = {**COMMON, **TEXT_METRICS}
    params: ParamsWithText

    def __init__(self, params: Params) -> None:
        super().__init__(ParamsWithText.of(params))  # params loaded for another modality: text's defaults
        self._indexes: dict[str, AnchorIndex] = {}  # anchor digest -> its near-duplicate index

    # -- keys -------------------------------------------------------------------------------------------------
    @property
    def key_file(self) -> Path:
        return self.params.resolve(self.params.text.watermark.key_file)

    @property
    def key_record_file(self) -> Path:
        """``watermark.json`` beside the key file: the key ids this workspace uses (current and retired)."""
        return registry_path(self.key_file)

    def prepare_workspace(self) -> list[str]:
        """A fresh random watermark key, unless one is set in the environment or already on disk, or the workspace
        is initialised (a recorded key, or a ledger: a missing key is then a SigningKeyError, never replaced);
        then the key's id and scheme recorded in ``watermark.json`` (a key that disagrees with the record is
        refused)."""
        import os

        settings = self.params.text.watermark
        if not settings.enabled:
            return []
        made = []
        initialised = read_record(self.key_record_file).current or _has_entries(self.params.ledger_path)
        if not os.environ.get(KEY_ENV) and not self.key_file.exists() and initialised:
            from collapse_guard.errors import SigningKeyError

            raise SigningKeyError(
                "the watermark key is missing and the workspace is initialised: put its file back (or set "
                f"{KEY_ENV}); a new key is never created for an initialised workspace (change keys with "
                "`collapse-guard audit rotate-key --watermark`)",
                path=str(self.key_file),
            )
        if not os.environ.get(KEY_ENV) and not self.key_file.exists():
            create_key_file(self.key_file)
            _ignore_in_git(self.params.workspace, self.params.text.watermark.key_file)
            made.append(f"watermark key {settings.key_file} (keep it secret)")
        key = current_key(self.key_file, self.key_record_file)
        fresh = not self.key_record_file.exists()
        record_key(self.key_record_file, key, settings.scheme)
        for retired in settings.known_key_files:
            record_key(self.key_record_file, read_key_file(self.params.resolve(retired)), settings.scheme, RETIRED)
        if fresh:
            made.append(f"watermark key record {self.key_record_file.name} (key id {key.key_id}, {settings.scheme})")
        return made

    def check_keys(self) -> None:
        """The watermark key of an initialised workspace: present, private to its owner, the recorded one."""
        if self.params.text.watermark.enabled and read_record(self.key_record_file).current:
            current_key(self.key_file, self.key_record_file)

    def watermark(self) -> WatermarkConfig | None:
        """The key to generate with: it must be the workspace's recorded key (whatever the environment says)."""
        settings = self.params.text.watermark
        if not settings.enabled:
            return None
        key = current_key(self.key_file, self.key_record_file)
        if self.key_record_file.exists():  # remember that this key was used with this scheme
            record_key(self.key_record_file, key, settings.scheme)
        return WatermarkConfig(key, settings.gamma, settings.delta, settings.scheme)

    def screen(self) -> WatermarkScreen:
        """Every key the workspace has: the current one (environment or key file, checked against the record)
        and the retired ones (``known_key_files``), each with every scheme it was recorded with. A recorded
        key that no file holds is a ConfigError: screening without it would let its text in as real."""
        settings = self.params.text.watermark
        keys: dict[str, WatermarkKey] = {}
        try:
            current = current_key(self.key_file, self.key_record_file)
            keys[current.key_id] = current
        except ConfigError:
            if settings.enabled or self.key_record_file.exists():
                raise
        for retired in settings.known_key_files:
            key = read_key_file(self.params.resolve(retired))
            keys[key.key_id] = key
        record = read_record(self.key_record_file)
        for key_id in record.retired():  # retired by `audit rotate-key --watermark`: kept beside the key file
            kept = retired_key_path(self.key_file, key_id)
            if key_id not in keys and kept.is_file():
                keys[key_id] = read_key_file(kept)
        missing = sorted(set(record.keys) - set(keys))
        if missing:
            raise ConfigError(
                f"the workspace recorded watermark keys {missing} that no key file holds "
                "(add their files to text.watermark.known_key_files)",
                path=str(self.key_record_file),
            )
        schemes = {key_id: tuple(sorted({*record.schemes(key_id), settings.scheme})) for key_id in keys}
        external = {path: _import_detector(path) for path in settings.external_detectors}
        return replace(self._screen(keys, schemes), external=external)

    def _screen(
        self, keys: dict[str, WatermarkKey], schemes: dict[str, tuple[str, ...]] | None = None
    ) -> WatermarkScreen:
        settings = self.params.text.watermark
        return WatermarkScreen(
            keys,
            settings.gamma,
            settings.z_threshold,
            settings.window,
            schemes=schemes or {},
            tokenizations=self._tokenizations(),
            fpr=settings.fpr,
            uncertain_fpr=settings.uncertain_fpr,
        )

    def _tokenizations(self) -> dict:
        """How every screen of this workspace turns text into watermark ids: the built-in words, and a subword
        model's tokenizer when ``text.watermark.tokenizer`` names one. Curation and the gate share it, so a text
        curation keeps is one the gate detects (the same tests, so the same multiple-testing correction)."""
        tokenizations = {"words": text_token_ids}
        if self.params.text.watermark.tokenizer:
            from collapse_guard.text.hf import HFTokenization

            tokenizations["hf"] = HFTokenization.from_file(self.params.resolve(self.params.text.watermark.tokenizer))
        return tokenizations

    # -- data -------------------------------------------------------------------------------------------------
    def initial_anchor(self) -> pd.DataFrame:
        data = self.params.data
        if data.source == "embedded":
            embedded = self.params.text.embedded
            corpus = default_corpus(embedded.min_words)
            if embedded.max_documents:
                corpus = corpus.iloc[: embedded.max_documents].reset_index(drop=True)
            origin = f"pydoc_data.topics@python-{platform.python_version()}"
        else:
            from collapse_guard.records.versioning import file_origin

            source = self.params.resolve(data.source)
            corpus = read_corpus(source)
            origin = file_origin(data.source, source) if source.is_file() else data.source
        return stamp_real(corpus, origin=origin, labels=REAL_TEXT_LABELS)

    def incoming(self, path: Path, anchor: pd.DataFrame, hasher: BatchHasher | None = None) -> Incoming:
        """A crawl: documents whose watermark (under any known key) or near-copy of the anchor or of each
        other turns them away; the rest join the anchor as real, ``origin`` = the path and today's date.
        ``hasher`` hashes the crawl's batches (default: here, one after the other); each is checked here."""
        from collapse_guard.records.provenance import utc_now

        index = self._synced_index(anchor, write=False)
        screen, now = self.screen(), utc_now()
        kept, turned_away = [], []
        batches = iter_corpus(path, self.params.text.dedup.batch_documents)
        with (
            tempfile.TemporaryDirectory(prefix="ingest-screening-") as spill,  # the crawl's earlier hashes
            closing((hasher or hash_batches_here)(batches, index.settings, screen)) as hashed_batches,
        ):
            stream = ScreeningStream(index, spill_dir=Path(spill))
            for batch, hashed in hashed_batches:
                clean, verdicts = triage_hashed(stream, hashed)
                kept.append(batch.loc[clean, [TEXT]])
                rejected = pd.concat(
                    [batch[~clean].reset_index(drop=True), verdicts[~clean].reset_index(drop=True)], axis=1
                )
                turned_away.append(rejected[["line", *rejected.columns.drop("line")]])
        records = stamp_real(
            pd.concat(kept, ignore_index=True), origin=f"{path}@{now.date().isoformat()}", labels=REAL_TEXT_LABELS
        )
        rejected = pd.concat(turned_away, ignore_index=True)
        return Incoming(records, rejected.assign(source_path=str(path), screened_at=now.isoformat()))

    def anchor_index(self, anchor: AnchorSplit) -> AnchorIndex:
        """The anchor's near-duplicate index, once per anchor version: loaded from beside the anchor (written
        where the anchor is versioned, ``anchor_written``); extended or rebuilt in memory if it lags."""
        if anchor.digest not in self._indexes:
            self._indexes[anchor.digest] = self._synced_index(anchor.frame, write=False)
        return self._indexes[anchor.digest]

    def anchor_written(self, anchor: pd.DataFrame) -> list[Path]:
        """Bring the on-disk index up to the anchor just written (new rows only) for DVC to version with it."""
        self._synced_index(anchor, write=True)
        return [index_path(self.params.anchor_path)]

    def _synced_index(self, anchor: pd.DataFrame, write: bool) -> AnchorIndex:
        synced = sync(index_path(self.params.anchor_path), anchor, self.dedup_settings(), write=write)
        if synced.status == "rebuilt":
            log.warning("near-duplicate index of the anchor rebuilt (%s)", synced.detail)
        return synced.index

    def dedup_settings(self) -> DedupSettings:
        dedup = self.params.text.dedup
        return DedupSettings(dedup.shingle_size, dedup.num_perm, dedup.threshold)

    def synthesize(
        self,
        model: Generator,
        n: int,
        decoding: DecodingParams,
        seed: int,
        anchor: AnchorSplit,
        *,
        generation: int,
        model_id: str,
        run_id: str,
        hasher: DocumentHasher | None = None,
    ) -> tuple[pd.DataFrame, CurationReport]:
        watermark = self.watermark()
        if watermark is not None:
            if not hasattr(model, "set_watermark"):
                raise ConfigError(f"{type(model).__name__} cannot embed a watermark; set text.watermark.enabled false")
            model.set_watermark(watermark)
            if hasattr(model, "watermark_tokenization") and not self.params.text.watermark.tokenizer:
                raise ConfigError(
                    f"{type(model).__name__} writes subword tokens and its watermark is found only in them: set "
                    "text.watermark.tokenizer to its tokenizer.json so that curation and the gate can detect it",
                    path=self.params.source_file,
                )
        raw = model.sample(n, decoding, seed)
        labels = {
            WATERMARK_KEY_ID: watermark.key.key_id if watermark else "",
            DECODING: json.dumps(
                {
                    **decoding.model_dump(),
                    "no_copy_ngram": model.options.get("no_copy_ngram", 0),
                    "watermark": (
                        {"gamma": watermark.gamma, "delta": watermark.delta, "scheme": watermark.scheme}
                        if watermark
                        else None
                    ),
                },
                sort_keys=True,
            ),
        }
        # a generation must carry the watermark of the key it names, as the gate checks: only that key counts
        screen = (
            self._screen({watermark.key.key_id: watermark.key}, {watermark.key.key_id: (watermark.scheme,)})
            if watermark
            else None
        )
        return curate_text(
            raw,
            self.anchor_index(anchor),
            labels,
            screen,
            generation=generation,
            model_id=model_id,
            run_id=run_id,
            hasher=hasher,
        )

    # -- measurement ------------------------------------------------------------------------------------------
    def evaluator(self, anchor: AnchorSplit, runner: MetricRunner = run_here) -> Evaluator:
        settings = self.params.text
        anchor_texts, real_texts = anchor.train[TEXT].tolist(), anchor.held_out[TEXT].tolist()
        held_out = anchor.held_out[[TEXT]]
        documents = self.params.evaluation.sample_size

        def run(model: Generator, seed: int) -> tuple[Evaluation, pd.DataFrame]:
            if hasattr(model, "set_watermark"):
                model.set_watermark(None)  # metrics measure the model, not the watermark's bias
            samples = model.sample(documents, EVALUATION_DECODING, seed)
            texts = samples[TEXT].tolist()
            jobs = {
                "text": partial(
                    text_metrics, texts, anchor_texts, real_texts, settings.metric_tokens, settings.tail_mass
                ),
                "vocabulary": partial(_vocabulary_spread, texts, real_texts),
                "loss": partial(heldout_loss, model, held_out),
            }
            metrics = run_merged(runner, jobs, len(texts) + len(real_texts))
            metrics["heldout_perplexity"] = math.exp(metrics["heldout_real_loss"])
            return Evaluation(metrics, HEADLINE, model.diagnostics()), samples[[TEXT]]

        return run

    def drift(
        self,
        samples: pd.DataFrame,
        reference: pd.DataFrame,
        html_path: Path,
        recorded: Mapping[str, float] | None = None,
    ) -> DriftSummary:
        """Drift of per-document descriptors (length, share of tail words, type-token ratio), the evaluation's
        ``recorded`` metrics and the report's own rare-token estimate, in one Evidently report.

        The descriptors are compared like for like (``comparable_descriptors``): a model writes documents within
        its decoding bounds (``min_sample_tokens`` to ``sample_tokens``) while anchor paragraphs run to hundreds of
        tokens, and a type-token ratio falls with length, so whole anchor documents against capped samples read as
        drift in length and word repetition for any model."""
        from evidently import DataDefinition, Dataset

        from collapse_guard.reports.evidently_drift import data_drift_preset
        from collapse_guard.text.evidently_metrics import DescriptorWindow, RareTokenMassRetentionAnchorHalves

        sample_texts = samples[TEXT].astype(str).tolist()
        reference_texts = reference[TEXT].astype(str).tolist()
        tail, _ = tail_vocabulary(reference_texts, self.params.text.tail_mass)
        window, bounds = comparison_window(sample_texts, reference_texts)
        definition = DataDefinition(text_columns=[TEXT], numerical_columns=list(DESCRIPTORS))

        def dataset(frame: pd.DataFrame, texts: list[str]) -> Dataset:
            measured = comparable_descriptors(texts, tail, window, bounds)
            table = pd.concat([frame[[TEXT]].reset_index(drop=True), measured], axis=1)
            return Dataset.from_pandas(table, data_definition=definition)

        compares = (
            f"{len(sample_texts)} model samples against {len(reference_texts)} anchor train documents: tail share and "
            f"type-token ratio on each document's first {window} tokens, lengths within {bounds[0]}-{bounds[1]} "
            "tokens; at generation 0 a difference is the model's own distance from real text"
        )
        return run_report(
            data_drift_preset(self.params.evaluation.drift_report, columns=list(DESCRIPTORS)),
            dataset(samples, sample_texts),
            dataset(reference, reference_texts),
            html_path,
            recorded=recorded,
            estimators=(
                RareTokenMassRetentionAnchorHalves(tail_mass=self.params.text.tail_mass),
                DescriptorWindow(window=window, low=bounds[0], high=bounds[1]),
            ),
            compares=compares,
            mode=self.params.evaluation.drift_report,
        )

    def tracking_params(self) -> dict[str, str | float]:
        watermark = self.watermark()
        if watermark is None:
            return {"watermark_key_id": ""}
        return {
            "watermark_key_id": watermark.key.key_id,
            "watermark_gamma": watermark.gamma,
            "watermark_scheme": watermark.scheme,
        }

    # -- gate -------------------------------------------------------------------------------------------------
    def gate_flags(self, anchor: AnchorSplit) -> Callable[[pd.DataFrame], pd.DataFrame]:
        index = self.anchor_index(anchor)
        screen = self.screen()
        return lambda frame: mixture_flags(frame, index, screen)

    def gate_parameters(self) -> dict:
        gate = self.params.text.gate
        return {
            "min_watermark_detected_share": 1.0 - gate.max_unwatermarked_share,
            "min_distinct_share": 1.0 - gate.max_near_duplicate_share,
            "min_edit_robust_share": 1.0 - self.params.text.gate.max_edit_fragile_share,
        }

    def gate_parameter_sources(self) -> dict[str, str]:
        return {
            "min_watermark_detected_share": "params.yaml text.gate.max_unwatermarked_share (1 minus it)",
            "min_distinct_share": "params.yaml text.gate.max_near_duplicate_share (1 minus it)",
            "min_edit_robust_share": "params.yaml text.gate.max_edit_fragile_share (1 minus it)",
        }


def _vocabulary_spread(texts: list[str], real_texts: list[str]) -> dict[str, float]:
    return {"effective_vocabulary_ratio": effective_vocabulary_ratio(texts, real_texts)}


def descriptors(texts: list[str], tail: set[str]) -> pd.DataFrame:
    """Per document: token count, share of the anchor's tail words, distinct / all tokens (whole documents)."""
    return comparable_descriptors(texts, tail, window=None, bounds=None)


def comparison_window(sample_texts: list[str], reference_texts: list[str]) -> tuple[int, tuple[int, int]]:
    """The window every document's descriptors are measured on (the shortest document of either side, at least one
    token) and the samples' length bounds (shortest and longest sample), which the reference's lengths are held
    within: a model's lengths are bounded by its decoding settings, the anchor's are not."""
    sample_lengths = [len(tokens_of([t])) for t in sample_texts] or [1]
    reference_lengths = [len(tokens_of([t])) for t in reference_texts] or [1]
    window = max(1, min(min(sample_lengths), min(reference_lengths)))
    return window, (min(sample_lengths), max(sample_lengths))


def comparable_descriptors(
    texts: list[str], tail: set[str], window: int | None, bounds: tuple[int, int] | None
) -> pd.DataFrame:
    """Per document: its token count (held within ``bounds``), and the share of the anchor's tail words and the
    distinct / all tokens ratio of its first ``window`` tokens (None: all of them)."""
    rows = []
    for text in texts:
        tokens = tokens_of([text])
        length = len(tokens) if bounds is None else min(max(len(tokens), bounds[0]), bounds[1])
        head = tokens if window is None else tokens[:window]
        count = max(len(head), 1)
        rows.append((length, sum(t in tail for t in head) / count, len(set(head)) / count))
    return pd.DataFrame(np.array(rows, dtype=np.float64).reshape(-1, 3), columns=list(DESCRIPTORS))


def _import_detector(path: str) -> Callable[[list[str]], object]:
    """``package.module:function`` from ``text.watermark.external_detectors``; ConfigError if it is not there."""
    import importlib

    module_name, _, name = path.partition(":")
    try:
        detector = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"text.watermark.external_detectors: cannot import {path!r} ({exc})") from exc
    if not callable(detector):
        raise ConfigError(f"text.watermark.external_detectors: {path!r} is not callable")
    return detector


def _has_entries(ledger_path: Path) -> bool:
    try:
        return Path(ledger_path).stat().st_size > 0
    except OSError:
        return False


def _ignore_in_git(workspace: Path, relative: str) -> None:
    """Keep the key out of git: add it to the workspace's .gitignore if it is not there yet."""
    gitignore = workspace / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    if f"/{relative}" not in lines and relative not in lines:
        from collapse_guard.records import atomic

        atomic.write_text(gitignore, "\n".join([*lines, f"/{relative}"]) + "\n")
