"""The regex tokeniser of a batch: the reference the compiled scan (collapse_guard.text.token_scan) is tested
against (tests/text/test_token_scan.py) and benchmarked against (benchmarks/text_tokenize.py)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np

from collapse_guard.text.tokenizer import TOKEN_PATTERN, token_ids, words

_DOCUMENT_BREAK = "\x01"  # a token of its own under TOKEN_PATTERN; joins a batch when no text contains it


def regex_batch_token_ids(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``batch_token_ids`` by the regex.

    The batch is lowercased and split by one regex pass over the texts joined with a break character (twice
    as fast as a pass per text), and each distinct token string is hashed once per batch (pandas' C hash
    table finds them).
    """
    import pandas as pd

    texts = list(texts)
    if not texts:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    joined = _DOCUMENT_BREAK.join(texts)
    if joined.count(_DOCUMENT_BREAK) != len(texts) - 1:  # a text contains the break: one pass per text
        tokenised = [words(text) for text in texts]
        lengths = np.fromiter(map(len, tokenised), dtype=np.int64, count=len(tokenised))
        flat = np.fromiter(chain.from_iterable(tokenised), dtype=object, count=int(lengths.sum()))
        if not len(flat):
            return np.zeros(0, dtype=np.uint64), lengths
        codes, distinct = pd.factorize(flat)
        return token_ids(list(distinct))[codes], lengths
    tokens = TOKEN_PATTERN.findall(joined.lower())
    codes, distinct = pd.factorize(np.fromiter(tokens, dtype=object, count=len(tokens)))
    breaks = np.flatnonzero(distinct == _DOCUMENT_BREAK)
    is_break = codes == breaks[0] if len(breaks) else np.zeros(len(codes), dtype=bool)
    ends = np.concatenate([np.flatnonzero(is_break), [len(codes)]])
    lengths = np.diff(np.concatenate([[-1], ends])) - 1
    return token_ids(list(distinct))[codes[~is_break]], lengths.astype(np.int64)
