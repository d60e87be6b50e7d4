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
    TokenBatch,
    WatermarkKey,
    p_values,
    scheme_of,
    text_token_ids,
    z_scores,
)
from collapse_guard.text.winmax import CLEAN, MARKED, scan, verdicts

WATERMARKED = "watermarked"


@dataclass(frozen=True)
class WatermarkScreen:
    """The keys to look for, the green fraction they were used with, and when a text counts as marked.

    ``schemes`` names, per key id, the seeding schemes that key was used with (default: ``lefthash-h1``);
    ``tokenizations`` how a text becomes watermark ids (default: the built-in word tokenizer; a Hugging Face
    model's text needs its own tokenizer, collapse_guard.text.hf.HFTokenization); every (tokenization, key,
    scheme) is one test: the WinMax scan, whose per-document false-positive bound is exact for that test
    (collapse_guard.text.winmax).

    The guarantee, per document: P(marked | the text carries none of these watermarks) <= ``fpr``, however
    many keys, schemes and tokenizations are screened. A document's bound (``fpr_bound``) is the smallest of
    its tests' bounds times the number of tests (Bonferroni), capped at 1; it is ``marked`` when that is at
    most ``fpr``, ``uncertain`` up to ``uncertain_fpr``, ``clean`` above. (Holm's step-down procedure would
    reject exactly the same documents: it starts by comparing the smallest bound with fpr / tests, and the
    verdict needs only that first step.) The union bound holds whatever the dependence between the tests
    (one text under several keys is one text), so it needs no assumption about them.

    ``external`` detectors (name -> callable taking the texts and returning one bool per text, e.g. a wrapped
    SynthID-Text detector) recognise other vendors' watermarks: a text one of them flags is marked, its
    ``key_id`` ``external:<name>``, with no green counts; their false positives are the vendor's and come on
    top of ``fpr``. ``z_threshold`` and ``window`` are kept for old callers; no verdict depends on them.
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
        """Every (key id, scheme) to try, each scheme once per key (``selfhash`` and ``selfhash-h4`` are one)."""
        return [
            (key_id, scheme)
            for key_id in self.keys
            for scheme in dict.fromkeys(scheme_of(s).name for s in self.schemes.get(key_id, (DEFAULT_SCHEME,)))
        ]

    def _tokenizations(self) -> Mapping[str, Callable[[str], np.ndarray]]:
        return self.tokenizations or {WORDS: text_token_ids}

    def tests(self) -> int:
        """How many tests a document goes through: tokenizations × (key, scheme) pairs (the correction's m)."""
        return len(self._tokenizations()) * len(self.pairs()) if self.keys else 0

    def scores(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text (``SCORE_COLUMNS``): the evidence of the test that decided it, the one with the
        smallest false-positive bound (ties: the one that scored more units, then the first): ``green``,
        ``scored``, ``z`` and ``p_value`` of the whole text; the best window's ``window_z``, ``window_p``
        (its exact p-value times the windows compared: the test's own bound) and token span
        ``span_start``..``span_end``; ``key_id``, ``scheme`` and ``tokenization`` of that test; ``tests``, the
        number of tests run, and ``fpr_bound`` = min(1, tests × the smallest ``window_p``), the document's
        false-positive bound; ``verdict`` (marked / uncertain / clean, from ``fpr_bound``) and ``detected``
        (= marked)."""
        texts = list(texts)
        tested: list[dict[str, np.ndarray]] = []
        if self.keys:
            for name, tokenize in self._tokenizations().items():
                batch = (
                    TokenBatch.of_texts(texts)
                    if tokenize is text_token_ids
                    else TokenBatch.of([tokenize(t) for t in texts])
                )
                tested += [self._scores_of(batch, key_id, scheme, name) for key_id, scheme in self.pairs()]
        bound = (
            np.minimum(1.0, len(tested) * np.min([t["window_p"] for t in tested], axis=0))
            if tested
            else np.ones(len(texts))
        )
        table = _pick(tested, len(texts)) if tested else _empty_scores(len(texts))
        table["tests"] = len(tested)
        table["fpr_bound"] = bound
        table["verdict"] = verdicts(bound, self.fpr, self.uncertain_fpr)
        for name, detector in self.external.items():
            flagged = _external_flags(name, detector, texts)
            table.loc[flagged, EXTERNAL_OVERRIDES] = [0, 0, 0.0, 1.0, 0.0, 0.0, 0, 0, f"external:{name}", "", ""]
            table.loc[flagged, ["fpr_bound", "verdict"]] = [0.0, MARKED]
        table["detected"] = table["verdict"].to_numpy() == MARKED
        return table[list(SCORE_COLUMNS)].astype(_empty_scores(0).dtypes.to_dict())

    def _scores_of(self, batch: TokenBatch, key_id: str, scheme: str, tokenization: str) -> dict[str, np.ndarray]:
        """One test: the whole-text test and the WinMax scan of every text under one key, scheme and tokenization
        (one compiled pass), with ``order``, the uncapped bound that ranks tests (2 × min(whole p, p × windows))."""
        best = scan(batch, self.keys[key_id], self.gamma, scheme, self.fpr, self.uncertain_fpr)
        rows = len(batch)
        return {
            "green": best.whole_green,
            "scored": best.whole_scored,
            "z": z_scores(best.whole_green, best.whole_scored, self.gamma),
            "p_value": best.whole_p,
            "window_z": best.z,
            "window_p": best.adjusted_p,
            "span_start": best.start,
            "span_end": best.end,
            "key_id": np.full(rows, key_id, dtype=object),
            "scheme": np.full(rows, scheme, dtype=object),
            "tokenization": np.full(rows, tokenization, dtype=object),
            "order": 2 * np.minimum(best.whole_p, best.p_value * np.maximum(best.windows, 1)),
        }


WORDS = "words"  # the built-in word tokenizer's name in the ``tokenization`` column
SCORE_COLUMNS = (
    "green",
    "scored",
    "z",
    "p_value",
    "window_z",
    "window_p",
    "span_start",
    "span_end",
    "key_id",
    "scheme",
    "tokenization",
    "tests",
    "fpr_bound",
    "verdict",
    "detected",
)
EXTERNAL_OVERRIDES = list(SCORE_COLUMNS[:11])  # an external flag has no counts of ours: they are reset


def _pick(tested: list[dict[str, np.ndarray]], rows: int) -> pd.DataFrame:
    """Per document, the evidence of the test with the smallest uncapped bound (``order``); among tests that
    tie (commonly at no evidence at all), the one that scored the most units, then the first."""
    order = np.stack([t["order"] for t in tested])
    scored = np.stack([t["scored"] for t in tested])
    tied = order == order.min(axis=0)
    decided = np.argmax(np.where(tied, scored, -1), axis=0)
    at = np.arange(rows)
    return pd.DataFrame({c: np.stack([t[c] for t in tested])[decided, at] for c in SCORE_COLUMNS[:11]})


def _external_flags(name: str, detector: Callable[[list[str]], Sequence[bool]], texts: list[str]) -> np.ndarray:
    """Another vendor's detector's verdicts, one bool per text (a wrong count is a ConfigError naming it)."""
    flagged = np.asarray(detector(texts), dtype=bool).reshape(-1)
    if len(flagged) != len(texts):
        raise ConfigError(f"watermark detector {name!r} gave {len(flagged)} verdicts for {len(texts)} texts")
    return flagged


def _empty_scores(rows: int) -> pd.DataFrame:
    """Rows of no evidence: what a text gets when no test ran (no keys), in ``SCORE_COLUMNS``' dtypes."""
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
            "tokenization": np.full(rows, "", dtype=object),
            "tests": np.zeros(rows, np.int64),
            "fpr_bound": np.ones(rows),
            "verdict": np.full(rows, CLEAN, dtype=object),
            "detected": np.zeros(rows, dtype=bool),
        }
    )


# (texts, settings, screen) -> every text's hashes and watermark scores (``hash_documents`` with all score
# columns), rows in text order. The per-document part of curation, free to run elsewhere: in this process by
# default, or in batches on a Dask cluster (collapse_guard.tasks.text_screening.DaskHashing).
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
    verdict (``fpr_bound``, corrected for the tests the screen ran) and whether it would survive 25 % edits
    at its length.
    A provenance column, so the record's id (a hash of its payload) does not change."""
    import json

    survives = _survive(scores, screen)
    out = []
    for text_decoding, scored, bound, robust in zip(
        decoding.astype(str), scores["scored"], scores["fpr_bound"], survives, strict=True
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
    ``hash_documents`` (watermark marks only), in order. collapse_guard.tasks.text_screening.DaskHashing.stream
    hashes big crawls on Dask instead, with the same results."""
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
