"""The compiled MinHash LSH loops give, bit for bit, the values of their numpy formulations (kept here as the
oracle): shingle hashes and exact keys of token ids, datasketch's affine32 signatures, band keys, and the
candidate pairs of a batch (earliest partners per bucket, capped)."""

import numpy as np
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_guard.text import minhash_kernels
from collapse_guard.text.hashing import GOLDEN_GAMMA, hash_rows, splitmix64

# a handful of distinct token ids, so repeated shingles and equal documents occur; lengths 0-7 cover
# empty documents, documents shorter than one shingle and several shingles
TOKEN = st.sampled_from([0, 1, 2, 3, 2**63 + 5, 2**64 - 1])
DOCUMENTS = st.lists(st.lists(TOKEN, max_size=7), max_size=12)


def _batch(documents: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([t for d in documents for t in d], dtype=np.uint64)
    return ids, np.array([len(d) for d in documents], dtype=np.int64)


def _numpy_shingles(ids: np.ndarray, lengths: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    token_owner = np.repeat(np.arange(len(lengths)), lengths)
    hashes, owners = [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
    if len(ids) >= size:
        windows = np.lib.stride_tricks.sliding_window_view(ids, size)
        inside = token_owner[: len(windows)] == token_owner[size - 1 :]
        hashes.append(hash_rows(windows[inside]))
        owners.append(token_owner[: len(windows)][inside])
    short = np.flatnonzero((lengths > 0) & (lengths < size))
    if len(short):
        starts = np.cumsum(lengths) - lengths
        padded = np.zeros((len(short), size), dtype=np.uint64)
        for i, d in enumerate(short):
            padded[i, : lengths[d]] = ids[starts[d] : starts[d] + lengths[d]]
        hashes.append(hash_rows(padded))
        owners.append(short)
    hashes_64, owner = np.concatenate(hashes), np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    return (hashes_64[order] >> np.uint64(32)).astype(np.uint32), owner[order]


def _numpy_exact_keys(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    starts = np.cumsum(lengths) - lengths
    position = (np.arange(len(ids)) - np.repeat(starts, lengths)).astype(np.uint64)
    with np.errstate(over="ignore"):
        mixed = splitmix64(ids ^ splitmix64(position + GOLDEN_GAMMA))
        sums = np.array([mixed[s : s + n].sum(dtype=np.uint64) for s, n in zip(starts, lengths, strict=True)])
        return splitmix64(sums.astype(np.uint64) ^ splitmix64(lengths.astype(np.uint64)))


@given(DOCUMENTS, st.integers(1, 4))
def test_shingle_hashes_and_exact_keys_equal_the_numpy_formulation(documents, size):
    ids, lengths = _batch(documents)
    hashes, owner = minhash_kernels.shingle_hashes(ids, lengths, size)
    expected_hashes, expected_owner = _numpy_shingles(ids, lengths, size)
    assert hashes.tolist() == expected_hashes.tolist()
    assert owner.tolist() == expected_owner.tolist()
    assert minhash_kernels.exact_keys(ids, lengths).tolist() == _numpy_exact_keys(ids, lengths).tolist()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**32 - 1), max_size=30), max_size=6), st.integers(0, 5))
def test_signatures_are_datasketch_affine32_minhash(documents, seed):
    hashes = np.array([h for d in documents for h in d], dtype=np.uint32)
    owner = np.repeat(np.arange(len(documents)), [len(d) for d in documents]).astype(np.int64)
    a, b = (p.astype(np.uint32) for p in MinHash(num_perm=16, seed=seed, scheme="affine32").permutations)
    signatures = minhash_kernels.signatures(hashes, owner, len(documents), a, b)
    for row, document in enumerate(documents):
        reference = MinHash(num_perm=16, seed=seed, scheme="affine32", hashfunc=lambda h: h)
        reference.update_batch(np.array(document, dtype=np.uint32))
        assert signatures[row].tolist() == reference.hashvalues.tolist()  # empty: all 0xFFFFFFFF


@given(st.integers(0, 2**31), st.integers(1, 8), st.integers(1, 5))
def test_band_keys_are_hash_rows_of_each_band(seed, bands, rows):
    signatures = np.random.default_rng(seed).integers(0, 2**32, size=(7, bands * rows + 3), dtype=np.uint32)
    keys = minhash_kernels.band_keys(signatures, bands, rows)
    for band in range(bands):
        assert keys[:, band].tolist() == hash_rows(signatures[:, band * rows : (band + 1) * rows]).tolist()


def _numpy_bucket_pairs(bands: np.ndarray, cap: int) -> set[tuple[int, int]]:
    """Per band, a stable sort by key; each row paired with the first ``cap`` rows of its run before it."""
    pairs = set()
    for band in range(bands.shape[1]):
        order = np.argsort(bands[:, band], kind="stable")
        keys = bands[order, band]
        for position, row in enumerate(order):
            start = position
            while start > 0 and keys[start - 1] == keys[position]:
                start -= 1
            pairs.update((int(row), int(order[p])) for p in range(start, min(position, start + cap)))
    return pairs


@given(
    st.lists(st.lists(st.sampled_from([0, 7, 2**64 - 1, 8, 2**40]), min_size=3, max_size=3), max_size=40),
    st.integers(1, 5),
)
def test_bucket_pairs_are_the_earliest_partners_per_bucket(rows, cap):
    bands = np.array(rows, dtype=np.uint64).reshape(-1, 3)
    later, earlier = minhash_kernels.bucket_pairs(bands, cap)
    found = list(zip(later.tolist(), earlier.tolist(), strict=True))
    assert all(row > partner for row, partner in found)
    per_band = sum(min(int((bands[:r, b] == bands[r, b]).sum()), cap) for r in range(len(bands)) for b in range(3))
    assert len(found) == per_band  # a pair shows once per band it shares
    assert set(found) == _numpy_bucket_pairs(bands, cap)


def test_bucket_pairs_of_many_random_keys_with_collisions():
    rng = np.random.default_rng(0)
    bands = rng.integers(0, 3_000, size=(20_000, 4)).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    later, earlier = minhash_kernels.bucket_pairs(bands, 3)
    assert len(later) > 20_000  # the table's probing and the output's growth are exercised
    assert set(zip(later.tolist(), earlier.tolist(), strict=True)) == _numpy_bucket_pairs(bands, 3)
