"""Screening text before it may be trained on: curation of a synthetic batch, the gate's text checks, and
the triage of a crawl of unknown origin.

Why three uses of one screen: the same two questions decide all of them. Is this our own generated
text (the watermark, Kirchenbauer et al. 2023)? Is it a copy or near-copy of text we already have
(exact hashes and MinHash LSH, Lee et al. 2022)? Synthetic text that carries no detectable watermark
would leak unlabelled into future crawls; near-copies narrow the distribution the next model learns
(Shumailov et al. 2024).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from collapse_guard.modality.base import CurationReport
from collapse_guard.records.provenance import SOURCE, SYNTHETIC, stamp_synthetic
from collapse_guard.text.corpus import TEXT
from collapse_guard.text.dedup import (
    EXACT_DUPLICATE,
    IN_ANCHOR,
    NEAR_DUPLICATE_IN_BATCH,
    NEAR_DUPLICATE_OF_ANCHOR,
    AnchorIndex,
    find_duplicates,
)
from collapse_guard.text.labels import WATERMARK_KEY_ID
from collapse_guard.text.watermark import WatermarkKey, detect_texts, detect_windowed, text_token_ids

WATERMARKED = "watermarked"


@dataclass(frozen=True)
class WatermarkScreen:
    """The keys to look for, the green fraction they were used with, and when a text counts as marked."""

    keys: Mapping[str, WatermarkKey]  # key_id -> key
    gamma: float
    z_threshold: float
    window: int

    def scores(self, texts: Sequence[str]) -> pd.DataFrame:
        """Per text, the evidence of the key that best explains it: ``green`` and ``scored`` (distinct token
        pairs), ``z`` and exact one-sided ``p_value`` (whole text), ``window_z`` (best window of ``window``
        tokens, for a marked passage inside longer text), ``key_id`` and ``detected``.

        A window counts only after a Bonferroni correction for the number of windows compared, so a long
        human text does not get many chances to cross the threshold.
        """
        from scipy.stats import norm

        texts = list(texts)
        if not self.keys:
            return pd.DataFrame(
                {"green": 0, "scored": 0, "z": 0.0, "p_value": 1.0, "window_z": 0.0, "key_id": "", "detected": False},
                index=range(len(texts)),
            )
        alpha = float(norm.sf(self.z_threshold))
        ids = [text_token_ids(t) for t in texts]
        long_rows = [row for row, i in enumerate(ids) if len(i) > self.window + 1]
        shape = (len(self.keys), len(texts))
        evidence = {name: np.zeros(shape) for name in ("green", "scored", "z", "p_value", "window_z")}
        detected = np.zeros(shape, dtype=bool)
        for k, key in enumerate(self.keys.values()):
            found = detect_texts(texts, key, self.gamma)
            for name in ("green", "scored", "z", "p_value"):
                evidence[name][k] = getattr(found, name)
            detected[k] = found.z > self.z_threshold
            for row in long_rows:
                window = detect_windowed(ids[row], key, self.gamma, self.window)
                evidence["window_z"][k, row] = window.z
                detected[k, row] |= window.p_value * window.windows < alpha
        best = np.argmax(np.where(detected, 1e9, 0.0) + evidence["z"], axis=0)  # a detecting key, then highest z
        columns = np.arange(len(texts))
        table = pd.DataFrame({name: values[best, columns] for name, values in evidence.items()})
        table[["green", "scored"]] = table[["green", "scored"]].astype(np.int64)
        table["key_id"] = np.asarray(list(self.keys), dtype=object)[best]
        table["detected"] = detected[best, columns]
        return table


def curate_text(
    raw: pd.DataFrame,
    anchor_index: AnchorIndex,
    labels: dict[str, str],
    screen: WatermarkScreen | None,
    *,
    generation: int,
    model_id: str,
    run_id: str,
) -> tuple[pd.DataFrame, CurationReport]:
    """Stamp a model's generated texts and keep only those that may be trained on.

    Dropped, by the first reason that applies: empty text (invalid); exact copy of an anchor document or of
    an earlier one in the batch; near-copy of the anchor or of an earlier kept document; and, when the
    model watermarks, no detectable watermark under the key it names (``labels["watermark_key_id"]``).
    """
    texts = raw[TEXT].astype(str).tolist()
    stamped = stamp_synthetic(raw, generation=generation, model_id=model_id, run_id=run_id, labels=labels)
    valid = np.array([bool(t.strip()) for t in texts])
    verdicts = find_duplicates(texts, anchor_index)
    reason, matched = verdicts["reason"].to_numpy(), verdicts["matched_in"].to_numpy()
    exact, in_anchor = (reason == EXACT_DUPLICATE) & valid, (matched == IN_ANCHOR) & valid
    unmarked = np.zeros(len(texts), dtype=bool)
    if screen is not None and labels.get(WATERMARK_KEY_ID):
        unmarked = ~screen.scores(texts)["detected"].to_numpy() & valid & (reason == "")
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


def mixture_flags(frame: pd.DataFrame, anchor_index: AnchorIndex, screen: WatermarkScreen) -> pd.DataFrame:
    """The gate's text columns, set on synthetic rows only (None on real rows, which GX then skips):

    ``_watermark_labelled``: the record names the key that marked it.
    ``_watermark_detected``: that key's watermark is detected in the text (an unknown key counts as not).
    ``_near_duplicate``: the text copies or nearly copies the anchor or another synthetic record.
    """
    flags = pd.DataFrame(index=frame.index, columns=["_watermark_labelled", "_watermark_detected", "_near_duplicate"])
    flags = flags.astype(object)
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
    detected = np.zeros(len(rows), dtype=bool)
    for key_id in set(key_ids) & set(screen.keys):
        mine = np.flatnonzero(key_ids == key_id)
        single = replace(screen, keys={key_id: screen.keys[key_id]})
        detected[mine] = single.scores([texts[i] for i in mine])["detected"].to_numpy()
    near = find_duplicates(texts, anchor_index)["drop"].to_numpy()
    flags.iloc[rows, 0] = list(key_ids != "")
    flags.iloc[rows, 1] = list(detected)
    flags.iloc[rows, 2] = list(near)
    return flags


def triage_crawl(
    texts: Sequence[str], anchor_index: AnchorIndex, screen: WatermarkScreen | None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Which crawled documents are clean real text, and a per-document verdict: ``reason`` ("" if clean:
    ``watermarked`` first, then the duplicate reasons), ``z``, ``window_z``, ``key_id``, ``similarity``."""
    verdicts = find_duplicates(list(texts), anchor_index)
    scores = (screen or WatermarkScreen({}, 0.25, np.inf, 1)).scores(texts)
    reason = np.where(scores["detected"].to_numpy(), WATERMARKED, verdicts["reason"].to_numpy())
    table = pd.DataFrame(
        {
            "reason": reason,
            "z": scores["z"].to_numpy(),
            "window_z": scores["window_z"].to_numpy(),
            "key_id": np.where(scores["detected"].to_numpy(), scores["key_id"].to_numpy(), ""),
            "similarity": verdicts["similarity"].to_numpy(),
        }
    )
    return reason == "", table
