"""The word-level tokenizer's split and lowercasing as one compiled pass over code points.

Why: ``TOKEN_PATTERN.findall(text.lower())`` makes one Python string per token, ~210 ns a token, three
times what watermark detection spends on the token's id afterwards. The same split needs only, for each
code point, what ``str.lower()`` maps it to and whether that lowered character is ``\\w`` (``isalnum()``
or ``_``), ``\\s`` (``isspace()``) or neither (a one-character token); those tables are built here once per
process by asking Python itself (``str.lower`` on every code point, ``re`` for the classes), so the split
is Python's by construction. Two characters are not a 1:1 context-free lowering: U+0130 'İ' lowers to two
characters and U+03A3 'Σ' to 'ς' or 'σ' depending on its neighbours; a text holding either is left to
the regex (``SPECIAL``). Each distinct token is found in an exact hash table (a 64-bit hash only picks the
slot; equal hashes are compared code point by code point), so the token ids cannot depend on luck.
"""

from __future__ import annotations

import re

import numpy as np
from numba import njit

WORD, SPACE, OTHER, SPECIAL = 1, 2, 3, 4
CLASS_SHIFT = 24  # a table entry: the lowered code point (< 2^21) | class << 24
_CONTEXTUAL = (0x130, 0x3A3)  # 'İ' lowers to two code points, 'Σ' by context (final sigma)
_TABLE: np.ndarray | None = None


def code_point_table() -> np.ndarray:
    """For every code point (uint32): its ``str.lower()`` code point and the class of that, built once."""
    global _TABLE
    if _TABLE is None:
        every = np.arange(0x110000, dtype=np.uint32)
        plain = every.copy()
        plain[list(_CONTEXTUAL)] = 0x20  # kept out of the lowering below, marked SPECIAL afterwards
        lowered = np.frombuffer(_string(plain).lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if len(lowered) != len(every):  # a new Unicode version lowering another character to several
            raise RuntimeError("str.lower() maps a code point besides U+0130 to several; extend _CONTEXTUAL")
        classes = np.full(len(every), OTHER, dtype=np.uint32)
        text = _string(every)
        for pattern, kind in ((r"\w+", WORD), (r"\s+", SPACE)):
            for match in re.finditer(pattern, text):
                classes[match.start() : match.end()] = kind
        table = lowered | (classes[lowered] << CLASS_SHIFT)
        table[list(_CONTEXTUAL)] = SPECIAL << CLASS_SHIFT
        _TABLE = table
    return _TABLE


def _string(code_points: np.ndarray) -> str:
    """The str of these code points, lone surrogates included."""
    return code_points.tobytes().decode("utf-32-le", "surrogatepass")


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = -1


@njit(cache=True, nogil=True)
def scan(
    codes: np.ndarray, ends: np.ndarray, table: np.ndarray, hash_mask: np.uint64
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Split the texts ``codes[ends[t-1]:ends[t]]`` into tokens as ``TOKEN_PATTERN.findall(text.lower())``.

    Returns each token's distinct-token number, each text's token count, which texts hold a SPECIAL code
    point (their count is 0: tokenise them with the regex), and each distinct token's start in ``codes``
    and length. ``hash_mask`` narrows the hash (tests force collisions with it; answers do not change).
    """
    tokens = np.empty(len(codes), np.int64)
    counts = np.zeros(len(ends), np.int64)
    special = np.zeros(len(ends), np.bool_)
    bits = 12
    starts = np.empty(1 << (bits - 1), np.int64)
    lengths = np.empty(1 << (bits - 1), np.int64)
    hashes = np.empty(1 << (bits - 1), np.uint64)
    slots = np.full(1 << bits, _EMPTY, np.int64)
    state = np.zeros(5, np.int64)  # text, code point, tokens, the text's first token, distinct tokens
    while _scan_until_full(
        codes, ends, table, hash_mask, tokens, counts, special, starts, lengths, hashes, slots, bits, state
    ):
        bits += 1  # the slot table is half full: double it (and the distinct tokens' arrays with it)
        starts, lengths, hashes = _grown(starts, bits - 1), _grown(lengths, bits - 1), _grown(hashes, bits - 1)
        slots = _rehashed(hashes, state[4], bits)
    return tokens[: state[2]], counts, special, starts[: state[4]], lengths[: state[4]]


@njit(cache=True, nogil=True, inline="always")
def _slot(h: np.uint64, bits: int) -> int:  # pragma: no cover
    """Fibonacci hashing: the top ``bits`` of the hash times 2^64 / golden ratio."""
    return np.int64((h * _MIX) >> np.uint64(64 - bits))


@njit(cache=True, nogil=True, inline="always")
def _same_lowered(a: int, b: int, table: np.ndarray) -> bool:  # pragma: no cover
    """Code points ``a`` and ``b`` lower to the same code point."""
    return a == b or (table[a] ^ table[b]) & 0xFFFFFF == 0


@njit(cache=True, nogil=True)
def _scan_until_full(
    codes: np.ndarray,
    ends: np.ndarray,
    table: np.ndarray,
    hash_mask: np.uint64,
    tokens: np.ndarray,
    counts: np.ndarray,
    special: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    hashes: np.ndarray,
    slots: np.ndarray,
    bits: int,
    state: np.ndarray,
) -> bool:  # pragma: no cover
    """``scan``'s loop, from ``state`` on, until done (False) or the slot table is half full (True): the
    arrays are arguments, never reassigned here, so the loop carries no reference counting."""
    text, i, n, first, distinct = state[0], state[1], state[2], state[3], state[4]
    mask = len(slots) - 1
    full = len(slots) // 2
    while text < len(ends):
        end = ends[text]
        while i < end:
            entry = table[codes[i]]
            kind = entry >> CLASS_SHIFT
            if kind == SPACE:
                i += 1
                continue
            if kind == SPECIAL:
                special[text] = True
                n = first
                i = end
                break
            start = i
            h = _FNV_OFFSET
            if kind == WORD:
                while i < end:
                    entry = table[codes[i]]
                    if entry >> CLASS_SHIFT != WORD:
                        break
                    h = (h ^ np.uint64(entry & 0xFFFFFF)) * _FNV_PRIME
                    i += 1
            else:
                h = (h ^ np.uint64(entry & 0xFFFFFF)) * _FNV_PRIME
                i += 1
            h &= hash_mask
            size = i - start
            slot = _slot(h, bits)
            while True:
                found = slots[slot]
                if found == _EMPTY:
                    break
                if hashes[found] == h and lengths[found] == size:
                    other = starts[found]
                    k = 0
                    while k < size and _same_lowered(codes[other + k], codes[start + k], table):
                        k += 1
                    if k == size:
                        break
                slot = (slot + 1) & mask
            if found == _EMPTY:
                found = distinct
                starts[found], lengths[found], hashes[found] = start, size, h
                slots[slot] = found
                distinct += 1
            tokens[n] = found
            n += 1
            if distinct == full:
                state[0], state[1], state[2], state[3], state[4] = text, i, n, first, distinct
                return True
        counts[text] = n - first
        first = n
        text += 1
    state[0], state[1], state[2], state[3], state[4] = text, i, n, first, distinct
    return False


@njit(cache=True, nogil=True)
def _grown(values: np.ndarray, bits: int) -> np.ndarray:  # pragma: no cover
    grown = np.empty(1 << bits, values.dtype)
    grown[: len(values)] = values
    return grown


@njit(cache=True, nogil=True)
def _rehashed(hashes: np.ndarray, distinct: int, bits: int) -> np.ndarray:  # pragma: no cover
    """A slot table of 2^bits slots holding distinct tokens 0 .. distinct-1."""
    slots = np.full(1 << bits, _EMPTY, np.int64)
    mask = len(slots) - 1
    for found in range(distinct):
        slot = _slot(hashes[found], bits)
        while slots[slot] != _EMPTY:
            slot = (slot + 1) & mask
        slots[slot] = found
    return slots
