"""Near-duplicate screening: collapse-guard's MinHash LSH (collapse_guard/text/dedup.py) against rensa's, side by
side on the same documents, at the same recall and precision against exact Jaccard.

Two sets of documents:

- ``short``: 100,000 generated documents of 10-40 words from a Zipf vocabulary of 20,000 words, 5 % planted
  near-copies of an earlier document (one word replaced; benchmarks/text_dedup.py), like a crawl's titles or
  posts;
- ``corpus``: the project's own real corpus (the Python manual's 1,218 prose paragraphs of 10 words or more,
  collapse_guard.text.corpus.default_corpus), each with three planted near-copies (1-4 words replaced, so
  their Jaccard spreads across the threshold), 4,872 documents in all.

Every engine screens the whole set within itself, in a fresh process on one thread (``OMP_NUM_THREADS=1``,
``RAYON_NUM_THREADS=1``), tokenising and shingling included, after a warm-up on a few documents (imports and
numba's compiled code are loaded once per process, not per batch). The shingles are the same everywhere: word
3-grams of the project's tokenizer (lower-cased words and punctuation marks), hashed by collapse-guard's
vectorised shingler, which is also the fastest way found to hand rensa its tokens (building 3-gram strings in
Python costs more than the whole screening). Engines:

- ``collapse-guard``: ``find_duplicates`` on the whole set: exact copies, then LSH candidates verified on the
  signatures; a dropped document names the document it copies. At its default 128 permutations (20 bands of
  6 rows) and at 200 (28 bands of 7), which reaches rensa's recall and precision.
- ``rensa``: rensa's fastest verified path found. Signatures of the same shingles (8-byte tokens) in one
  call (``RMinHash.digest_matrix_from_token_byte_sets``), its one-shot LSH flags every document that shares
  a band with another (``query_duplicate_flags_matrix_one_shot``, no verification), and only the flagged
  documents go, in order, through its verifying deduplicator (``RMinHashDeduplicator``: a document is a
  duplicate when a kept one's estimated Jaccard reaches the threshold, the same rule as collapse-guard's);
  for each dropped document, the kept one it matches best (``get_duplicates`` and ``jaccard``). Documents
  the flags pass share no band with any other, so the deduplicator would keep them anyway: the verdicts
  are those of running the deduplicator on every document, in less time.
- ``rensa-flags``: rensa's signatures from the flat shingle hashes and the one-shot flags only: no
  verification and no partner (a pair's both documents are flagged). Its throughput is rensa's ceiling; its
  output is not a verdict.

rensa runs at 32 bands of 4 rows of 128 permutations (its band count must divide the permutations; 16 x 8
loses a third of the near-copies at J = 0.7) and at collapse-guard's layout (20 bands of 6 rows, 120
permutations). Reported per engine: CPU seconds and wall seconds of the screening, documents per CPU second,
peak resident memory; recall of the planted near-copies with exact Jaccard J >= t (and >= t + 0.1); precision:
the share of dropped documents whose exact Jaccard to the document they were matched with reaches t (and t -
0.1), over every drop; for ``rensa-flags``, the share of flagged documents that belong to a planted pair with
J >= t. The load average is printed with each run.

Then, unless ``--no-explain``: the CPU seconds of each step of both engines on the short set, and how far each
engine's estimated Jaccard strays from the exact one on the planted pairs (mean and standard deviation of the
error, and the share of pairs at J >= t whose estimate reaches t), at 128 and 200 permutations.

    OMP_NUM_THREADS=1 python benchmarks/dedup_vs_rensa.py [--sets short corpus] [--size 100000] [--repeats 3]

rensa is a benchmark-only dependency (``pip install rensa==0.5.0``); without it the benchmark says so and runs
collapse-guard alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from text_dedup import synthetic_documents  # noqa: E402

from collapse_guard.text.dedup import DedupSettings, find_duplicates  # noqa: E402
from collapse_guard.text.minhash_kernels import shingle_hashes  # noqa: E402
from collapse_guard.text.tokenizer import batch_token_ids, words  # noqa: E402

ENGINES = (  # (engine, bands, permutations); collapse-guard's bands follow from its settings
    ("collapse-guard", None, 128),
    ("collapse-guard", None, 200),
    ("rensa", 32, 128),
    ("rensa", 20, 120),
    ("rensa-flags", 32, 128),
    ("rensa-flags", 20, 120),
)
CORPUS_COPIES = 3
SEED = 1


# -- documents -------------------------------------------------------------------------------------------------
def corpus_documents(seed: int = 0) -> tuple[list[str], np.ndarray]:
    """The project's corpus paragraphs, then ``CORPUS_COPIES`` near-copies of each (1-4 words replaced by
    words of the corpus), shuffled; and for each document the row it copies (-1 for originals)."""
    from collapse_guard.text.corpus import default_corpus

    rng = np.random.default_rng(seed)
    originals = [words(t) for t in default_corpus(min_words=10)["text"]]
    vocabulary = sorted({w for doc in originals for w in doc})
    sources = rng.permutation(np.repeat(np.arange(len(originals)), CORPUS_COPIES))
    copies = []
    for source in sources:
        copy = list(originals[source])
        changes = int(rng.integers(1, 5))
        for i in rng.choice(len(copy), size=min(changes, len(copy)), replace=False):
            copy[i] = vocabulary[int(rng.integers(len(vocabulary)))]
        copies.append(copy)
    texts = [" ".join(doc) for doc in originals + copies]
    copy_of = np.concatenate([np.full(len(originals), -1), sources])
    return texts, copy_of


def documents(name: str, size: int) -> tuple[list[str], np.ndarray]:
    return synthetic_documents(size, seed=size) if name == "short" else corpus_documents()


def shingle_set(text: str, size: int) -> set[tuple[str, ...]]:
    """A document's word ``size``-grams, as the screening shingles it (a shorter document is one shingle)."""
    tokens = words(text)
    if len(tokens) < size:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def exact_jaccard(a: str, b: str, size: int) -> float:
    first, second = shingle_set(a, size), shingle_set(b, size)
    return len(first & second) / max(len(first | second), 1)


# -- engines ---------------------------------------------------------------------------------------------------
def _shingled(texts: list[str], settings: DedupSettings) -> tuple[np.ndarray, np.ndarray]:
    """The same shingle hashes collapse-guard uses (as uint64) and each document's row offsets into them."""
    ids, lengths = batch_token_ids(texts)
    hashes, owner = shingle_hashes(ids, lengths, settings.shingle_size)
    counts = np.bincount(owner, minlength=len(texts))
    return hashes.astype(np.uint64), np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)


def _token_bytes(hashes: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> list[list[bytes]]:
    """Rows' shingle hashes as lists of 8-byte tokens (rensa's verifying API takes str or bytes tokens)."""
    starts, ends = offsets[rows].astype(np.int64), offsets[rows + 1].astype(np.int64)
    counts = ends - starts
    position = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    flat = hashes[position].view("V8").tolist()
    bounds = np.cumsum(counts).tolist()
    return [flat[s:e] for s, e in zip([0, *bounds[:-1]], bounds, strict=True)]


def rensa_flags(texts: list[str], settings: DedupSettings, bands: int, num_perm: int) -> np.ndarray:
    from rensa import RMinHash, RMinHashLSH

    hashes, offsets = _shingled(texts, settings)
    matrix = RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, num_perm, SEED)
    lsh = RMinHashLSH(settings.threshold, num_perm, bands)
    flags = np.asarray(lsh.query_duplicate_flags_matrix_one_shot(matrix), dtype=bool)
    return flags & (np.diff(offsets) > 0)


def rensa_screen(
    texts: list[str], settings: DedupSettings, bands: int, num_perm: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per document: dropped, the kept document it matches best (-1), that estimated Jaccard."""
    from rensa import RMinHash, RMinHashDeduplicator, RMinHashLSH

    hashes, offsets = _shingled(texts, settings)
    everyone = np.arange(len(texts))
    tokens = _token_bytes(hashes, offsets, everyone)
    matrix = RMinHash.digest_matrix_from_token_byte_sets(tokens, num_perm, SEED)
    lsh = RMinHashLSH(settings.threshold, num_perm, bands)
    flagged = np.flatnonzero(np.asarray(lsh.query_duplicate_flags_matrix_one_shot(matrix), dtype=bool))
    flagged = flagged[np.diff(offsets)[flagged] > 0]
    sketches = RMinHash.from_token_sets([tokens[r] for r in flagged], num_perm, SEED)
    dedup = RMinHashDeduplicator(settings.threshold, num_perm, True, bands, SEED)
    kept = np.asarray(dedup.add_pairs(zip(map(str, flagged.tolist()), sketches, strict=True)), dtype=bool)
    drop, partner, similarity = np.zeros(len(texts), bool), np.full(len(texts), -1), np.zeros(len(texts))
    sketch_of = dict(zip(flagged.tolist(), sketches, strict=True))
    for row, sketch in zip(flagged[~kept].tolist(), np.asarray(sketches, dtype=object)[~kept], strict=True):
        matches = [int(key) for key in dedup.get_duplicates(sketch)]
        scores = [sketch.jaccard(sketch_of[m]) for m in matches]
        best = max(range(len(matches)), key=lambda i: (scores[i], -matches[i]))
        drop[row], partner[row], similarity[row] = True, matches[best], scores[best]
    return drop, partner, similarity


def run_one(engine: str, bands: int | None, num_perm: int, set_name: str, size: int) -> dict:
    settings = DedupSettings(num_perm=num_perm) if engine == "collapse-guard" else DedupSettings()
    texts, copy_of = documents(set_name, size)
    warm = texts[:50]
    if engine == "collapse-guard":
        screen = lambda t: find_duplicates(t, None, settings)  # noqa: E731
    elif engine == "rensa":
        screen = lambda t: rensa_screen(t, settings, bands, num_perm)  # noqa: E731
    else:
        screen = lambda t: rensa_flags(t, settings, bands, num_perm)  # noqa: E731
    screen(warm)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0]
    cpu, wall = time.process_time(), time.perf_counter()
    result = screen(texts)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if engine == "collapse-guard":
        drop, partner = result["drop"].to_numpy(), result["duplicate_of"].to_numpy()
    elif engine == "rensa":
        drop, partner, _ = result
    else:
        drop, partner = result, None
    layout = settings.band_layout() if bands is None else (bands, num_perm // bands)
    return {
        "engine": engine,
        "layout": f"{layout[0]}x{layout[1]} of {num_perm}",
        "set": set_name,
        "documents": len(texts),
        "cpu": cpu,
        "wall": wall,
        "peak_mb": peak,
        "before_mb": before,
        "load": load,
        **quality(texts, copy_of, drop, partner, settings),
    }


def quality(texts: list[str], copy_of: np.ndarray, drop: np.ndarray, partner, settings: DedupSettings) -> dict:
    t, size = settings.threshold, settings.shingle_size
    planted = np.flatnonzero(copy_of >= 0)
    similarity = np.array([exact_jaccard(texts[r], texts[copy_of[r]], size) for r in planted])
    figures = {
        "recall": float(drop[planted][similarity >= t].mean()),
        "recall_clear": float(drop[planted][similarity >= t + 0.1].mean()),
        "planted_at_t": int((similarity >= t).sum()),
        "dropped": int(drop.sum()),
    }
    if partner is not None:
        dropped = np.flatnonzero(drop)
        matched = np.array([exact_jaccard(texts[r], texts[partner[r]], size) for r in dropped])
        figures["precision"] = float((matched >= t).mean()) if len(matched) else 1.0
        figures["precision_loose"] = float((matched >= t - 0.1).mean()) if len(matched) else 1.0
    else:  # flags: a flagged document is right when it is in a planted pair at J >= t (as the copy or the source)
        in_pair = np.zeros(len(texts), dtype=bool)
        in_pair[planted[similarity >= t]] = True
        in_pair[copy_of[planted[similarity >= t]]] = True
        loose = np.zeros(len(texts), dtype=bool)
        loose[planted[similarity >= t - 0.1]] = True
        loose[copy_of[planted[similarity >= t - 0.1]]] = True
        figures["precision"] = float(in_pair[drop].mean()) if drop.any() else 1.0
        figures["precision_loose"] = float(loose[drop].mean()) if drop.any() else 1.0
    return figures


# -- why: where the time goes, and how far each engine's estimate strays from the exact Jaccard --------------
def stages(size: int) -> None:
    """CPU seconds of each step of both engines on the short set (one process, after a warm-up)."""
    from rensa import RMinHash, RMinHashDeduplicator, RMinHashLSH

    from collapse_guard.text import dedup
    from collapse_guard.text import minhash_kernels as kernels

    texts, _ = documents("short", size)
    settings = DedupSettings()
    find_duplicates(texts[:50], None, settings)
    rensa_screen(texts[:50], settings, 32, 128)
    clock = time.process_time
    steps: list[tuple[str, float]] = []

    def step(name: str, fn):
        start = clock()
        out = fn()
        steps.append((name, clock() - start))
        return out

    ids, lengths = step("tokenise (both)", lambda: batch_token_ids(texts))
    hashes, owner = step("shingle hashes (both)", lambda: kernels.shingle_hashes(ids, lengths, 3))
    step("collapse-guard: exact-copy keys", lambda: kernels.exact_keys(ids, lengths))
    a, b = dedup._permutations(settings.num_perm, settings.seed)
    signatures = step("collapse-guard: signatures", lambda: kernels.signatures(hashes, owner, len(lengths), a, b))
    bands = step("collapse-guard: band keys", lambda: dedup.band_keys(signatures, settings))
    step("collapse-guard: candidate pairs", lambda: dedup._pairs_within(bands))
    step("collapse-guard: find_duplicates, all of it", lambda: find_duplicates(texts, None, settings))
    flat, offsets = _shingled(texts, settings)
    step(
        "rensa: signatures from the flat hashes",
        lambda: RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, 128, SEED),
    )
    tokens = step(
        "rensa: 8-byte token lists for its verifying API", lambda: _token_bytes(flat, offsets, np.arange(len(texts)))
    )
    matrix = step(
        "rensa: signatures from the token lists", lambda: RMinHash.digest_matrix_from_token_byte_sets(tokens, 128, SEED)
    )
    lsh = RMinHashLSH(settings.threshold, 128, 32)
    flags = step("rensa: one-shot LSH flags", lambda: lsh.query_duplicate_flags_matrix_one_shot(matrix))
    flagged = np.flatnonzero(np.asarray(flags, dtype=bool))
    sketches = step(
        "rensa: sketches of the flagged", lambda: RMinHash.from_token_sets([tokens[r] for r in flagged], 128, SEED)
    )
    deduplicator = RMinHashDeduplicator(settings.threshold, 128, True, 32, SEED)
    step(
        "rensa: verifying deduplicator",
        lambda: deduplicator.add_pairs(zip(map(str, flagged.tolist()), sketches, strict=True)),
    )
    step("rensa: rensa_screen, all of it", lambda: rensa_screen(texts, settings, 32, 128))
    print(f"\nwhere the time goes, short set of {len(texts):,} documents, 128 permutations (CPU s):")
    for name, seconds in steps:
        print(f"  {name:<50} {seconds:6.3f}")


def estimator_spread(size: int) -> None:
    """Estimated minus exact Jaccard of the planted pairs, per engine and permutation count: the spread of the
    estimate decides how many pairs near the threshold land on the wrong side of it."""
    from rensa import RMinHash

    from collapse_guard.text.dedup import DocumentHashes

    print("\nestimated minus exact Jaccard of the planted pairs: mean, standard deviation; share of pairs with J >= t")
    print("whose estimate reaches t")
    for set_name in ("short", "corpus"):
        texts, copy_of = documents(set_name, size)
        planted = np.flatnonzero(copy_of >= 0)
        exact = np.array([exact_jaccard(texts[r], texts[copy_of[r]], 3) for r in planted])
        above = exact >= DedupSettings().threshold
        for num_perm in (128, 200):
            settings = DedupSettings(num_perm=num_perm)
            ours = DocumentHashes.of(texts, settings).signatures
            flat, offsets = _shingled(texts, settings)
            theirs = np.array(RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, num_perm, SEED).to_rows())
            for engine, sig in (("collapse-guard", ours), ("rensa", theirs)):
                error = (sig[planted] == sig[copy_of[planted]]).mean(axis=1) - exact
                passed = (error + exact)[above] >= settings.threshold
                print(
                    f"  {set_name:>6} {engine:>14} {num_perm:>4} permutations: {error.mean():+.4f}, "
                    f"{error.std():.4f}; {passed.mean():.1%} of {above.sum():,}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", choices=("short", "corpus"), default=["short", "corpus"])
    parser.add_argument("--size", type=int, default=100_000, help="documents of the short set")
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per engine; the least CPU is kept")
    parser.add_argument("--no-explain", action="store_true", help="skip the time per step and the estimate's spread")
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        engine, bands, num_perm, set_name, size = args.one
        print(json.dumps(run_one(engine, None if bands == "-" else int(bands), int(num_perm), set_name, int(size))))
        return
    rensa_version = _version("rensa")
    engines = ENGINES if rensa_version else tuple(e for e in ENGINES if not e[0].startswith("rensa"))
    settings = DedupSettings()
    print(
        f"near-duplicate screening within one set, one thread: {settings.shingle_size}-word shingles, Jaccard "
        f"threshold t = {settings.threshold}; rensa {rensa_version or 'not installed'}, numpy {np.__version__}; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start\n"
    )
    if not rensa_version:
        print("rensa is not installed (pip install rensa==0.5.0): its engines are skipped, collapse-guard runs alone\n")
    print(
        f"{'set':>6} {'engine':>14} {'layout':>12} {'docs':>8} {'CPU s':>7} {'wall s':>7} {'CPU µs/doc':>10} "
        f"{'doc/CPU-s':>10} {'peak MB':>8} {'recall J>=t':>11} {'J>=t+.1':>8} {'precision J>=t':>14} {'J>=t-.1':>8} "
        f"{'dropped':>8} {'load':>5}"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1"}
    for set_name in args.sets:
        for engine, bands, num_perm in engines:
            rows = []
            for _ in range(args.repeats):
                command = [
                    sys.executable,
                    __file__,
                    "--one",
                    engine,
                    "-" if bands is None else str(bands),
                    str(num_perm),
                    set_name,
                    str(args.size),
                ]
                out = subprocess.run(command, capture_output=True, text=True, env=env)
                if out.returncode:
                    print(f"{set_name:>6} {engine:>14} failed: {out.stderr.strip().splitlines()[-3:]}", flush=True)
                    break
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            if not rows:
                continue
            row = min(rows, key=lambda r: r["cpu"])
            print(
                f"{set_name:>6} {engine:>14} {row['layout']:>12} {row['documents']:>8,} {row['cpu']:>7.2f} "
                f"{row['wall']:>7.2f} {1e6 * row['cpu'] / row['documents']:>10.2f} "
                f"{row['documents'] / row['cpu']:>10,.0f} {row['peak_mb']:>8,.0f} "
                f"{row['recall']:>11.1%} {row['recall_clear']:>8.1%} {row['precision']:>14.1%} "
                f"{row['precision_loose']:>8.1%} {row['dropped']:>8,} {row['load']:>5.1f}",
                flush=True,
            )
    if rensa_version and not args.no_explain:
        stages(args.size)
        estimator_spread(args.size)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


def _version(package: str) -> str | None:
    """The installed version of ``package``, or None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
