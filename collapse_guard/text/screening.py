"""Screening text before it may be trained on: curation of a synthetic batch, the gate's text checks, and
the triage of a crawl of unknown origin.

Why three uses of one screen: the same two questions decide all of them. Is this our own generated
text (the watermark, Kirchenbauer et al. 2023)? Is it a copy or near-copy of text we already have
(exact hashes and MinHash LSH, Lee et al. 2022)? Synthetic text that carries no detectable watermark
would leak unlabelled into future crawls; near-copies narrow the distribution the next model learns
(Shumailov et al. 2024).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from collapse_guard.errors import ConfigError
from collapse_guard.modality.base import CurationReport
from collapse_guard.records.provenance import SOURCE, SYNTHETIC, stamp_synthetic
from collapse_guard.text.corpus import TEXT
from collapse_guard.text.dedup import (
    EXACT_DUPLICATE,
    IN_ANCHOR,
    NEAR_DUPLICATE_IN_BATCH,
    NEAR_DUPLICATE_OF_ANCHOR,
    AnchorIndex,
    DedupSettings,
    DocumentHashes,
    ScreeningStream,
    find_duplicates,
    screen_hashes,
)
from collapse_guard.text.labels import DECODING, WATERMARK_KEY_ID
from collapse_guard.text.watermark import (
    DEFAULT_SCHEME,
    WatermarkKey,
    detect,
    p_values,
    scheme_of,
    text_token_ids,
    texts_token_ids,
)
from collapse_guard.text.winmax import CLEAN, MARKED, scan

WATERMARKED = "watermarked"


@dataclass(frozen=True)
class WatermarkScreen:
    """The keys to look for, the green fraction they were used with, and when a text counts as marked.

    ``schemes`` names, per key id, the seeding schemes that key was used with (default: ``lefthash-h1``);
    ``tokenizations`` how a text becomes watermark ids (default: the built-in word tokenizer; a Hugging Face
    model's text needs its own tokenizer, collapse_guard.text.hf.HFTokenization); every (key, scheme,
    tokenization) is tried. ``external`` detectors (name -> callable taking the texts and returning one bool
    per text, e.g. a wrapped SynthID-Text detector) recognise other vendors' watermarks: a text one of them
    flags is marked, its ``key_id`` ``external:<name>``. A text is marked when the WinMax scan's
    per-document false-positive bound is at most ``fpr`` (collapse_guard.text.winmax). ``z_threshold`` and
    ``window`` are kept for old callers; the verdict no longer depends on them.
    """

    keys: Mapping[str, WatermarkKey]  # key_id -> key
    gamma: float
    z_threshold: float = 4.0
    window: int = 200
    schemes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fpr: float = 1e-4
    uncertain_fpr: float = 1e-2
    tokenizations: Mapping[str, Callable[[str], np.ndarray]] = field(default_factory=dict)
    external: Mapping[str, Callable[[list[str]], Sequence[bool]]] = field(default_factory=dict)

    def pairs(self) -> list[tuple[str, str]]:
        """Every (key id, scheme) to try."""
        return [(key_id, s) for key_id in self.keys for s in self.schemes.get(key_id, (DEFAULT_SCHEME,))]

    def _tokenizations(self) -> Mapping[str, Callable[[str], np.ndarray]]:
        return self.tokenizations or {"words": text_token_ids}

    def scores(self, texts: Sequence[str]) -> pd.DataFrame:
        """Per text, the evidence of the (key, scheme) that best explains it: ``green``, ``scored``, ``z``
        and ``p_value`` of the whole text; the best window's ``window_z``, ``window_p`` (its exact p-value
        times the windows compared: the false-positive bound) and token span ``span_start``..``span_end``;
        ``key_id``, ``scheme``, ``verdict`` (marked / uncertain / clean) and ``detected`` (= marked)."""
        texts = list(texts)
        tables = [_empty_scores(len(texts))]
        for tokenize in self._tokenizations().values():
            ids = texts_token_ids(texts) if tokenize is text_token_ids else [tokenize(t) for t in texts]
            tables += [self._scores_of(ids, key_id, scheme) for key_id, scheme in self.pairs()]
        tables += [_external_scores(name, detector, texts) for name, detector in self.external.items()]
        strength = np.stack([t["window_p"].to_numpy() for t in tables])  # the smallest bound wins
        best = np.argmin(strength - 1e-12 * np.stack([t["z"].to_numpy() for t in tables]), axis=0)
        rows = np.arange(len(texts))
        picked = {c: np.stack([t[c].to_numpy() for t in tables])[best, rows] for c in tables[0].columns}
        return pd.DataFrame(picked).astype(_empty_scores(0).dtypes.to_dict())

    def _scores_of(self, ids: list[np.ndarray], key_id: str, scheme: str) -> pd.DataFrame:
        key = self.keys[key_id]
        whole = detect(ids, key, self.gamma, scheme=scheme)
        best = scan(ids, key, self.gamma, scheme, self.fpr, self.uncertain_fpr)
        return pd.DataFrame(
            {
                "green": whole.green,
                "scored": whole.scored,
                "z": whole.z,
                "p_value": whole.p_value,
                "window_z": best.z,
                "window_p": best.adjusted_p,
                "span_start": best.start,
                "span_end": best.end,
                "key_id": key_id,
                "scheme": scheme,
                "verdict": best.verdict,
                "detected": best.marked,
            }
        )


def _external_scores(name: str, detector: Callable[[list[str]], Sequence[bool]], texts: list[str]) -> pd.DataFrame:
    """Another vendor's detector as screening evidence: flagged texts are marked (``window_p`` 0 ranks them
    first), the rest clean; there are no green counts to report."""
    flagged = np.asarray(detector(texts), dtype=bool).reshape(-1)
    if len(flagged) != len(texts):
        raise ConfigError(f"watermark detector {name!r} gave {len(flagged)} verdicts for {len(texts)} texts")
    table = _empty_scores(len(texts))
    table.loc[flagged, ["window_p", "key_id", "verdict", "detected"]] = [0.0, f"external:{name}", MARKED, True]
    return table


def _empty_scores(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "green": np.zeros(rows, np.int64),
            "scored": np.zeros(rows, np.int64),
            "z": np.zeros(rows),
            "p_value": np.ones(rows),
            "window_z": np.zeros(rows),
            "window_p": np.ones(rows),
            "span_start": np.zeros(rows, np.int64),
            "span_end": np.zeros(rows, np.int64),
            "key_id": np.full(rows, "", dtype=object),
            "scheme": np.full(rows, "", dtype=object),
            "verdict": np.full(rows, CLEAN, dtype=object),
            "detected": np.zeros(rows, dtype=bool),
        }
    )


# (texts, settings, screen) -> every text's hashes and watermark scores (``hash_documents`` with all score
# columns), rows in text order. The per-document part of curation, free to run elsewhere: in this process by
# default, or in batches on a Dask cluster (collapse_guard.tasks.cluster.DaskHashing).
DocumentHasher = Callable[[list[str], DedupSettings, "WatermarkScreen | None"], tuple[DocumentHashes, pd.DataFrame]]


def curate_text(
    raw: pd.DataFrame,
    anchor_index: AnchorIndex,
    labels: dict[str, str],
    screen: WatermarkScreen | None,
    *,
    generation: int,
    model_id: str,
    run_id: str,
    hasher: DocumentHasher | None = None,
) -> tuple[pd.DataFrame, CurationReport]:
    """Stamp a model's generated texts and keep only those that may be trained on.

    Dropped, by the first reason that applies: empty text (invalid); exact copy of an anchor document or of
    an earlier one in the batch; near-copy of the anchor or of an earlier kept document; and, when the
    model watermarks, no detectable watermark under the key it names (``labels["watermark_key_id"]``).
    Each text's detectability at its length is recorded in its ``decoding`` JSON (``_with_detectability``).
    ``hasher`` does the per-document hashing and scoring (default: here, whole); the order-dependent
    duplicate check always runs here, so where the hashing ran never changes a verdict.
    """
    texts = raw[TEXT].astype(str).tolist()
    stamped = stamp_synthetic(raw, generation=generation, model_id=model_id, run_id=run_id, labels=labels)
    valid = np.array([bool(t.strip()) for t in texts])
    scored = screen if screen is not None and labels.get(WATERMARK_KEY_ID) else None
    hashes, scores = (hasher or _hash_all)(texts, anchor_index.settings, scored)
    verdicts = screen_hashes(hashes, anchor_index, anchor_index.settings).frame()
    reason, matched = verdicts["reason"].to_numpy(), verdicts["matched_in"].to_numpy()
    exact, in_anchor = (reason == EXACT_DUPLICATE) & valid, (matched == IN_ANCHOR) & valid
    unmarked = np.zeros(len(texts), dtype=bool)
    if scored is not None:
        unmarked = ~scores["detected"].to_numpy() & valid & (reason == "")
        stamped[DECODING] = _with_detectability(stamped[DECODING], scores, scored)
    keep = valid & (reason == "") & ~unmarked
    report = CurationReport.from_masks(
        keep,
        {
            "invalid": ~valid,
            "duplicate": exact & ~in_anchor,
            "anchor_copy": exact & in_anchor,
            "near_duplicate": (reason == NEAR_DUPLICATE_IN_BATCH) & valid,
            "near_anchor_copy": (reason == NEAR_DUPLICATE_OF_ANCHOR) & valid,
            "unwatermarked": unmarked,
        },
    )
    return stamped[keep].reset_index(drop=True), report


def _hash_all(
    texts: list[str], settings: DedupSettings, screen: WatermarkScreen | None
) -> tuple[DocumentHashes, pd.DataFrame]:
    return hash_documents(texts, settings, screen, columns=None)


def _with_detectability(decoding: pd.Series, scores: pd.DataFrame, screen: WatermarkScreen) -> list[str]:
    """Each record's ``decoding`` JSON plus ``detectability``: units scored, the false-positive bound of its
    verdict (``fpr_bound``, the WinMax ``window_p``) and whether it would survive 25 % edits at its length.
    A provenance column, so the record's id (a hash of its payload) does not change."""
    import json

    survives = _survive(scores, screen)
    out = []
    for text_decoding, scored, bound, robust in zip(
        decoding.astype(str), scores["scored"], scores["window_p"], survives, strict=True
    ):
        try:
            settings = json.loads(text_decoding) if text_decoding else {}
        except ValueError:
            settings = {}
        if not isinstance(settings, dict):
            settings = {}
        settings["detectability"] = {
            "scored": int(scored),
            "fpr_bound": float(f"{float(bound):.3g}"),
            "survives_25pct_edits": bool(robust),
        }
        out.append(json.dumps(settings, sort_keys=True))
    return out


EDIT_SHARE = 0.25  # the edit rate a kept text should survive (the "after 25 % edits")


def surviving_share(scheme: str, edit: float = EDIT_SHARE) -> float:
    """Expected share of (context, token) units left intact when a share ``edit`` of the words is replaced at
    random: the token and its context must survive (lefthash: both of 2 tokens); for selfhash the token
    must survive and the context's min-hash must not change (k replaced of h: (h + 1 − k) / (h + 1 + k))."""
    from scipy.stats import binom

    spec = scheme_of(scheme)
    if not spec.self_salt:
        return (1 - edit) ** 2
    k = np.arange(spec.context + 1)
    unchanged = (spec.context + 1 - k) / (spec.context + 1 + k)
    return float((1 - edit) * (binom.pmf(k, spec.context, edit) * unchanged).sum())


def survives_edits(
    green: np.ndarray, scored: np.ndarray, gamma: float, scheme: str, fpr: float, edit: float = EDIT_SHARE
) -> np.ndarray:
    """Whether each text, at its length and green share, would still be detected (whole-text test, half the
    FPR budget as in the scan) after a share ``edit`` of its words is replaced: the expected green count
    falls to γ on the broken units. Short texts fail this even when detectable as they are."""
    scored = np.asarray(scored, dtype=np.float64)
    share = np.where(scored > 0, np.asarray(green) / np.maximum(scored, 1), 0.0)
    intact = surviving_share(scheme, edit)
    expected_green = np.floor(scored * (intact * share + (1 - intact) * gamma))
    return np.asarray(p_values(expected_green.astype(np.int64), scored.astype(np.int64), gamma)) <= fpr / 2


def detectable_length(green_share: float, gamma: float, scheme: str, fpr: float, edit: float = EDIT_SHARE) -> int:
    """The shortest text (scored units) at which a text of this green share survives ``edit``; 0 if none
    up to 5000 units (the share after edits is no better than chance)."""
    lengths = np.arange(1, 5001)
    ok = survives_edits(np.round(green_share * lengths), lengths, gamma, scheme, fpr, edit)
    return int(lengths[np.argmax(ok)]) if ok.any() else 0


def mixture_flags(frame: pd.DataFrame, anchor_index: AnchorIndex, screen: WatermarkScreen) -> pd.DataFrame:
    """The gate's text columns, set on synthetic rows only (None on real rows, which GX then skips):

    ``_watermark_labelled``: the record names the key that marked it.
    ``_watermark_detected``: that key's watermark is detected in the text (an unknown key counts as not),
    under the scheme the record names in its ``decoding`` (else every scheme the key was used with).
    ``_watermark_survives_edits``: at its length, the text would still be detected after 25 % of its words
    are replaced (``survives_edits``); the share of False is the synthetic text too short to stay marked.
    ``_near_duplicate``: the text copies or nearly copies the anchor or another synthetic record.
    """
    columns = ["_watermark_labelled", "_watermark_detected", "_near_duplicate", "_watermark_survives_edits"]
    flags = pd.DataFrame(index=frame.index, columns=columns).astype(object)
    synthetic = (frame[SOURCE] == SYNTHETIC).to_numpy() if SOURCE in frame else np.zeros(len(frame), dtype=bool)
    rows = np.flatnonzero(synthetic)
    if not len(rows):
        return flags
    texts = frame[TEXT].astype(str).iloc[rows].tolist() if TEXT in frame else [""] * len(rows)
    key_ids = (
        frame[WATERMARK_KEY_ID].fillna("").astype(str).iloc[rows].to_numpy()
        if WATERMARK_KEY_ID in frame
        else np.full(len(rows), "")
    )
    schemes = np.array(
        [_recorded_scheme(d) for d in frame[DECODING].iloc[rows]] if DECODING in frame else [""] * len(rows)
    )
    detected = np.zeros(len(rows), dtype=bool)
    robust = np.zeros(len(rows), dtype=bool)
    for key_id, scheme in {(k, s) for k, s in zip(key_ids, schemes, strict=True) if k in screen.keys}:
        mine = np.flatnonzero((key_ids == key_id) & (schemes == scheme))
        named = {key_id: (scheme,)} if scheme else {key_id: screen.schemes.get(key_id, (DEFAULT_SCHEME,))}
        single = replace(screen, keys={key_id: screen.keys[key_id]}, schemes=named, external={})
        scores = single.scores([texts[i] for i in mine])
        detected[mine] = scores["detected"].to_numpy()
        robust[mine] = scores["detected"].to_numpy() & _survive(scores, screen)
    near = find_duplicates(texts, anchor_index)["drop"].to_numpy()
    flags.iloc[rows, 0] = list(key_ids != "")
    flags.iloc[rows, 1] = list(detected)
    flags.iloc[rows, 2] = list(near)
    flags.iloc[rows, 3] = list(robust)
    return flags


def _survive(scores: pd.DataFrame, screen: WatermarkScreen) -> np.ndarray:
    """``survives_edits`` for each scored text, under the scheme that detected it."""
    out = np.zeros(len(scores), dtype=bool)
    for scheme in set(scores["scheme"]):
        rows = (scores["scheme"] == scheme).to_numpy()
        green, scored = scores["green"].to_numpy()[rows], scores["scored"].to_numpy()[rows]
        out[rows] = survives_edits(green, scored, screen.gamma, scheme or DEFAULT_SCHEME, screen.fpr)
    return out


def _recorded_scheme(decoding: object) -> str:
    """The scheme a record's ``decoding`` JSON names ("" if none: records from before schemes existed)."""
    import json

    try:
        watermark = json.loads(str(decoding)).get("watermark") or {}
    except (ValueError, AttributeError):
        return ""
    return str(watermark.get("scheme", "")) if isinstance(watermark, dict) else ""


def triage_crawl(
    texts: Sequence[str],
    anchor_index: AnchorIndex,
    screen: WatermarkScreen | None,
    stream: ScreeningStream | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Which crawled documents are clean real text, and a per-document verdict: ``reason`` ("" if clean:
    ``watermarked`` first, then the duplicate reasons), ``z``, ``window_z``, ``key_id``, ``similarity``.
    With ``stream`` (over ``anchor_index``), ``texts`` is the next batch of a crawl read batch by batch."""
    verdicts = stream.screen(list(texts)) if stream is not None else find_duplicates(list(texts), anchor_index)
    return _clean_and_verdicts(triage_table(verdicts, watermark_marks(screen, texts)))


def triage_hashed(
    stream: ScreeningStream, hashed: tuple[DocumentHashes, pd.DataFrame]
) -> tuple[np.ndarray, pd.DataFrame]:
    """``triage_crawl`` of the next batch of a crawl, hashed already (``hash_documents``, anywhere)."""
    return _clean_and_verdicts(check_hashed(stream, hashed))


def check_hashed(stream: ScreeningStream, hashed: tuple[DocumentHashes, pd.DataFrame]) -> pd.DataFrame:
    """The next hashed batch of a crawl against the anchor and everything before it in the crawl
    (``stream``, which keeps what later batches need): its ``triage_table``, one row per document."""
    hashes, marks = hashed
    return triage_table(stream.screen_hashed(hashes), marks)


def _clean_and_verdicts(table: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    return table["reason"].to_numpy() == "", table[TRIAGE_COLUMNS]


Hashed = tuple[DocumentHashes, pd.DataFrame]  # one batch's hash_documents
BatchHasher = Callable[
    [Iterable[pd.DataFrame], DedupSettings, "WatermarkScreen | None"], Iterator[tuple[pd.DataFrame, Hashed]]
]


def hash_batches_here(
    batches: Iterable[pd.DataFrame], settings: DedupSettings, screen: WatermarkScreen | None
) -> Iterator[tuple[pd.DataFrame, Hashed]]:
    """A ``BatchHasher`` in this process: each batch of a crawl (a frame with a ``text`` column) with its
    ``hash_documents`` (watermark marks only), in order. collapse_guard.tasks.cluster.DaskHashing.stream hashes
    big crawls on Dask instead, with the same results."""
    for batch in batches:
        yield batch, hash_documents(batch[TEXT], settings, screen)


TRIAGE_COLUMNS = ["reason", "z", "window_z", "key_id", "similarity"]


MARK_COLUMNS = ("detected", "z", "window_z", "key_id")  # what a triage needs of WatermarkScreen.scores


def watermark_marks(screen: WatermarkScreen | None, texts: Sequence[str]) -> pd.DataFrame:
    """The part of ``WatermarkScreen.scores`` a triage needs (``MARK_COLUMNS``): small enough to send back
    from a Dask worker with the batch's hashes."""
    return _scores(screen, texts)[list(MARK_COLUMNS)]


def _scores(screen: WatermarkScreen | None, texts: Sequence[str]) -> pd.DataFrame:
    """``screen.scores``; without a screen, every text clean (no tokenising for keys that are not there)."""
    return screen.scores(texts) if screen is not None else _empty_scores(len(texts))


def hash_documents(
    texts: Sequence[str],
    settings: DedupSettings,
    screen: WatermarkScreen | None = None,
    columns: Sequence[str] | None = MARK_COLUMNS,
) -> tuple[DocumentHashes, pd.DataFrame]:
    """The per-document work of screening and curation: each text's hashes (``DocumentHashes``) and its
    watermark evidence (``columns`` of ``WatermarkScreen.scores``; None: all). Every row depends on its text
    only, so batches hashed anywhere and joined in order (``join_hashed``) equal the whole hashed at once.
    Done ``HASH_CHUNK_DOCUMENTS`` at a time: the tokens, shingles and scan of a chunk are freed before the
    next (hashing and scanning 50,000 short documents at once took 300 MB above the batch; in chunks of 20,000,
    209 MB)."""
    texts = list(texts)
    if len(texts) > HASH_CHUNK_DOCUMENTS:
        return join_hashed(
            [
                hash_documents(texts[rows], settings, screen, columns)
                for rows in batch_slices(len(texts), HASH_CHUNK_DOCUMENTS)
            ]
        )
    scores = _scores(screen, texts)
    return DocumentHashes.of(texts, settings), scores if columns is None else scores[list(columns)]


# big enough for numpy's passes to pay, small enough to bound their memory. With 5,000 (and one batch in flight per
# worker, not measured apart) a 10M crawl on 2 workers took 1,062 CPU s instead of 889
HASH_CHUNK_DOCUMENTS = 20_000


def join_hashed(parts: Sequence[tuple[DocumentHashes, pd.DataFrame]]) -> tuple[DocumentHashes, pd.DataFrame]:
    """Batches of ``hash_documents`` (in text order) as one."""
    return (
        DocumentHashes.concat([hashes for hashes, _ in parts]),
        pd.concat([scores for _, scores in parts], ignore_index=True),
    )


def batch_slices(count: int, size: int) -> list[slice]:
    """``count`` rows cut into consecutive batches of at most ``size`` (at least 1) rows, in order."""
    size = max(int(size), 1)
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def triage_table(verdicts: pd.DataFrame, marks: pd.DataFrame) -> pd.DataFrame:
    """One crawl batch's verdicts: a watermark turns a document away first, then the duplicate reasons of
    ``find_duplicates`` (whose match columns are kept as they are); ``key_id`` only where a watermark was
    found."""
    detected = marks["detected"].to_numpy()
    return pd.DataFrame(
        {
            "reason": np.where(detected, WATERMARKED, verdicts["reason"].to_numpy()),
            "matched_in": verdicts["matched_in"].to_numpy(),
            "duplicate_of": verdicts["duplicate_of"].to_numpy(),
            "similarity": verdicts["similarity"].to_numpy(),
            "z": marks["z"].to_numpy(),
            "window_z": marks["window_z"].to_numpy(),
            "key_id": np.where(detected, marks["key_id"].to_numpy(), ""),
        }
    )
