"""Novelty-constrained decoding: forbid any token that would complete an n-gram copied from the training data.

Why: a language model retrained on its own output drifts toward the phrases it has memorised, and copies of
training text carry no new information while narrowing the distribution (Shumailov et al. 2024). Refusing
n-gram copies at decoding time is the blocking form of the constraint used against regurgitation (cf. the
n-gram blocking of Paulus et al. 2018 and the memorisation filters of Carlini et al. 2021).

The index is compact and vectorised: every training n-gram is split into a hash of its first n − 1 tokens
(the prefix) and its last token; prefixes are sorted, and the continuations of each prefix sit in one flat
array (compressed sparse rows). At each decoding step one ``searchsorted`` finds every row's prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from collapse_guard.text.hashing import hash_rows


@dataclass(frozen=True)
class NgramIndex:
    """The training n-grams of length ``n``: sorted prefix hashes, row offsets, continuation token ids."""

    n: int
    prefixes: np.ndarray  # uint64, sorted, unique
    offsets: np.ndarray  # int64, len(prefixes) + 1
    continuations: np.ndarray  # int64

    @classmethod
    def build(cls, documents: Sequence[np.ndarray], n: int) -> NgramIndex:
        """Index every n-gram that lies inside one document (documents as arrays of token ids)."""
        if n < 2:
            raise ValueError("an n-gram index needs n >= 2")
        windows = [np.lib.stride_tricks.sliding_window_view(d, n) for d in documents if len(d) >= n]
        if not windows:
            return cls(n, np.zeros(0, np.uint64), np.zeros(1, np.int64), np.zeros(0, np.int64))
        grams = np.concatenate(windows).astype(np.int64)
        keys, last = hash_rows(grams[:, :-1]), grams[:, -1]
        order = np.lexsort((last, keys))
        keys, last = keys[order], last[order]
        distinct = np.concatenate([[True], (keys[1:] != keys[:-1]) | (last[1:] != last[:-1])])
        keys, last = keys[distinct], last[distinct]
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        return cls(n, keys[starts], np.append(starts, len(keys)).astype(np.int64), last)

    def __len__(self) -> int:
        return len(self.continuations)

    def forbidden(self, recent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, token) index pairs that would complete a training n-gram, given each row's last n − 1
        tokens (``recent``: (rows, n − 1))."""
        if len(self.prefixes) == 0 or recent.shape[1] != self.n - 1:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        keys = hash_rows(recent)
        slot = np.minimum(np.searchsorted(self.prefixes, keys), len(self.prefixes) - 1)
        found = self.prefixes[slot] == keys
        rows = np.flatnonzero(found)
        begin, end = self.offsets[slot[rows]], self.offsets[slot[rows] + 1]
        counts = end - begin
        row_of = np.repeat(rows, counts)
        position = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(begin, counts)
        return row_of, self.continuations[position]

    def to_state(self) -> dict:
        """Plain tensors, so a saved model loads with ``torch.load(weights_only=True)``."""
        import torch

        return {
            "n": self.n,
            "prefixes": torch.from_numpy(self.prefixes.view(np.int64).copy()),
            "offsets": torch.from_numpy(self.offsets.copy()),
            "continuations": torch.from_numpy(self.continuations.copy()),
        }

    @classmethod
    def from_state(cls, state: dict) -> NgramIndex:
        return cls(
            int(state["n"]),
            state["prefixes"].numpy().view(np.uint64).copy(),
            state["offsets"].numpy().copy(),
            state["continuations"].numpy().copy(),
        )
