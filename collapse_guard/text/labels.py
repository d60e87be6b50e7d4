"""Text's provenance labels: which watermark key marked a record and how it was decoded ("" for real text).

Registered with collapse_guard.records.provenance so they are never mistaken for the payload (the text).
"""

from __future__ import annotations

from collapse_guard.records.provenance import register_label_columns

WATERMARK_KEY_ID = "watermark_key_id"
DECODING = "decoding"
TEXT_LABEL_COLUMNS: tuple[str, ...] = (WATERMARK_KEY_ID, DECODING)
REAL_TEXT_LABELS = {WATERMARK_KEY_ID: "", DECODING: ""}

register_label_columns(*TEXT_LABEL_COLUMNS)
