"""Green-list watermark (Kirchenbauer et al. 2023) on the built-in text model: power, false alarms, robustness, speed.

With γ = 0.25 and δ = 2 (the paper's main setting) and 200-token samples of the built-in model trained on the
default corpus, prints:

1. detection rate at z > 4 on watermarked generations (target ≥ 98 %);
2. false-positive rate at z > 4 on real text cut into 200-token windows — the anchor itself, and Python's own
   docstrings (real English the model never saw) — next to the rate the exact binomial tail predicts; then
   the anchor's windows under ``--fpr-keys`` other keys, since one key's few hundred windows cannot resolve
   a rate of 1e-4 (and share their common word pairs' colours, so they are not independent tests);
3. detection rate after 10 % of the tokens are replaced at random by words drawn from the anchor's unigram
   distribution (target ≥ 90 %);
4. detection speed in tokens/s on a batch of ≥ 1M tokens, compiled ``detect`` against the per-token
   ``detect_reference`` (tests/text/detection_oracle.py), and their ratio;
5. detection from text, as ``detect``/``ingest`` do it: batched tokenising (``texts_token_ids``) then ``detect``,
   in tokens/s, against ``detect`` on the same tokens already tokenised (benchmarks/watermark_detection.py
   breaks this down against the floor).

    python benchmarks/text_watermark.py [--quick] [--samples 500] [--speed-tokens 1000000] [--fpr-keys 20000]
"""

from __future__ import annotations

import argparse
import ast
import math
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collapse_guard.offline import apply_offline_defaults

apply_offline_defaults()

from collapse_guard.config import DecodingParams  # noqa: E402
from collapse_guard.text import watermark as wm  # noqa: E402
from collapse_guard.text.corpus import default_corpus  # noqa: E402
from collapse_guard.text.lm import TextLanguageModel  # noqa: E402
from collapse_guard.text.tokenizer import token_ids, words  # noqa: E402
from tests.text.detection_oracle import detect_reference  # noqa: E402

GAMMA, DELTA, Z_THRESHOLD, LENGTH = 0.25, 2.0, 4.0, 200
KEY = wm.as_key(b"collapse-guard benchmark key (not a secret)")
SKIPPED_STDLIB_PARTS = {"test", "tests", "site-packages", "idlelib"}


def train_model(epochs: int) -> tuple[TextLanguageModel, float]:
    corpus = default_corpus()
    model = TextLanguageModel(epochs=epochs, sample_tokens=LENGTH, min_sample_tokens=LENGTH)
    start = time.perf_counter()
    model.fit(corpus, seed=0)
    return model, time.perf_counter() - start


def real_windows(texts: list[str]) -> list[np.ndarray]:
    """Non-overlapping 200-token windows of the texts joined into one token stream."""
    stream = np.concatenate([token_ids(words(t)) for t in texts])
    return [stream[i : i + LENGTH] for i in range(0, len(stream) - LENGTH + 1, LENGTH)]


def stdlib_docstrings(min_words: int = 30) -> list[str]:
    """Docstrings of the standard library's own modules, classes and functions: unseen real English."""
    root = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for path in sorted(root.rglob("*.py")):
        if SKIPPED_STDLIB_PARTS & set(path.relative_to(root).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc.split()) >= min_words:
                    texts.append(doc)
    return texts


def binomial_false_positive_rate(scored: np.ndarray) -> float:
    """Mean over windows of P(z > 4) when every scored token is green with probability γ (exact tail)."""
    from scipy.stats import binom

    scored = scored[scored > 0]
    needed = np.floor(GAMMA * scored + Z_THRESHOLD * np.sqrt(scored * GAMMA * (1 - GAMMA))) + 1
    return float(binom.sf(needed - 1, scored, GAMMA).mean())


def false_positives_over_keys(windows: list[np.ndarray], keys: int) -> tuple[int, int, float, float]:
    """Windows flagged at z > 4, windows tested, expected count (exact tail) and the one-sided 95 % upper
    bound on the rate (Clopper-Pearson), pooled over ``keys`` keys other than the benchmark's."""
    from scipy.stats import beta

    flagged, tested, expected = 0, 0, 0.0
    for k in range(keys):
        result = wm.detect(windows, wm.as_key(f"collapse-guard false-positive key {k}"), GAMMA)
        flagged += int(result.flagged(Z_THRESHOLD).sum())
        tested += len(result.z)
        expected += binomial_false_positive_rate(result.scored) * len(result.z)
    return flagged, tested, expected, float(beta.ppf(0.95, flagged + 1, tested - flagged))


def replace_at_random(documents: list[np.ndarray], fraction: float, vocabulary: np.ndarray, p: np.ndarray, seed: int):
    """Each token replaced with probability ``fraction`` by a word drawn from the anchor's unigram distribution."""
    rng = np.random.default_rng(seed)
    attacked = []
    for ids in documents:
        ids = ids.copy()
        hit = rng.random(len(ids)) < fraction
        ids[hit] = vocabulary[rng.choice(len(vocabulary), size=int(hit.sum()), p=p)]
        attacked.append(ids)
    return attacked


def unigram(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from collections import Counter

    counts = Counter(t for text in texts for t in words(text))
    tokens = list(counts)
    frequency = np.array([counts[t] for t in tokens], dtype=np.float64)
    return token_ids(tokens), frequency / frequency.sum()


def speed(documents: list[np.ndarray]) -> tuple[float, float, int]:
    """tokens/s of ``detect`` (best of 3) and of the per-token ``detect_reference``, on the same batch."""
    total = int(sum(len(d) for d in documents))
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        vectorised = wm.detect(documents, KEY, GAMMA)
        best = min(best, time.perf_counter() - start)
    as_lists = [d.tolist() for d in documents]
    start = time.perf_counter()
    reference = detect_reference(as_lists, KEY, GAMMA)
    reference_seconds = time.perf_counter() - start
    assert vectorised.green.tolist() == [green for green, _, _ in reference], "detect disagrees with the reference"
    return total / best, total / reference_seconds, total


def text_speed(texts: list[str]) -> tuple[float, float, int]:
    """tokens/s of tokenising the texts as a batch and detecting, and of detecting alone (best of 3 each)."""
    ids = wm.texts_token_ids(texts)
    total = int(sum(len(d) for d in ids))
    from_text = ids_only = math.inf
    for _ in range(3):
        start = time.perf_counter()
        wm.detect(wm.texts_token_ids(texts), KEY, GAMMA)
        from_text = min(from_text, time.perf_counter() - start)
        start = time.perf_counter()
        wm.detect(ids, KEY, GAMMA)
        ids_only = min(ids_only, time.perf_counter() - start)
    return total / from_text, total / ids_only, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 epochs, 100 samples, 200k-token speed batch, 200 keys")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--speed-tokens", type=int, default=1_000_000)
    parser.add_argument("--fpr-keys", type=int, default=20_000, help="keys to pool the anchor false positives over")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.epochs, args.speed_tokens, args.fpr_keys = 100, 3, 200_000, 200

    model, fit_seconds = train_model(args.epochs)
    corpus_texts = default_corpus()["text"].tolist()
    print(f"built-in model: {args.epochs} epochs on the default corpus in {fit_seconds:.0f} s")
    print(f"watermark: gamma={GAMMA}, delta={DELTA}, key_id={KEY.key_id}, {LENGTH}-token documents\n")

    model.set_watermark(wm.WatermarkConfig(KEY, GAMMA, DELTA))
    start = time.perf_counter()
    texts = model.sample(args.samples, DecodingParams(), seed=1)["text"].tolist()
    sample_seconds = time.perf_counter() - start
    marked = [wm.text_token_ids(t) for t in texts]
    detection = wm.detect(marked, KEY, GAMMA)
    print(f"1. watermarked samples: {args.samples} generated in {sample_seconds:.1f} s")
    print(f"   detection rate at z>4: {detection.flagged(Z_THRESHOLD).mean():.1%}   (target >= 98%)")
    print(f"   z: median {np.median(detection.z):.1f}, min {detection.z.min():.1f}; ", end="")
    print(f"green share {np.mean(detection.green / detection.scored):.2f}; scored pairs {detection.scored.mean():.0f}")

    print("\n2. false positives on real text, 200-token windows:")
    real_sources = {"anchor (default corpus)": corpus_texts, "stdlib docstrings (unseen)": stdlib_docstrings()}
    for name, source in real_sources.items():
        real = wm.detect(real_windows(source), KEY, GAMMA)
        flagged = int(real.flagged(Z_THRESHOLD).sum())
        expected = binomial_false_positive_rate(real.scored)
        print(
            f"   {name:<28} {len(real.z):>5} windows: {flagged} flagged ({flagged / len(real.z):.2%}); "
            f"exact binomial tail {expected:.1e} (= {expected * len(real.z):.3f} expected); "
            f"z mean {real.z.mean():+.2f}, sd {real.z.std():.2f}, max {real.z.max():.2f}"
        )
    flagged, tested, expected, upper = false_positives_over_keys(real_windows(corpus_texts), args.fpr_keys)
    print(
        f"   anchor under {args.fpr_keys} other keys: {tested:,} windows: {flagged} flagged ({flagged / tested:.1e}, "
        f"95% upper bound {upper:.1e}); exact binomial tail {expected / tested:.1e} (= {expected:.1f} expected)"
    )

    vocabulary, p = unigram(corpus_texts)
    attacked = wm.detect(replace_at_random(marked, 0.10, vocabulary, p, seed=2), KEY, GAMMA)
    print("\n3. after replacing 10% of the tokens at random:")
    print(f"   detection rate at z>4: {attacked.flagged(Z_THRESHOLD).mean():.1%}   (target >= 90%)")
    print(f"   z: median {np.median(attacked.z):.1f}, min {attacked.z.min():.1f}")

    pool = marked + real_windows(corpus_texts)
    batch = [pool[i % len(pool)] for i in range(math.ceil(args.speed_tokens / LENGTH) + 1)]
    vectorised, reference, total = speed(batch)
    print(f"\n4. detection speed on {len(batch)} documents, {total:,} tokens:")
    print(f"   compiled detect:     {vectorised:>12,.0f} tokens/s")
    print(f"   per-token reference: {reference:>12,.0f} tokens/s")
    print(f"   ratio: {vectorised / reference:.0f}x")

    documents = (texts + corpus_texts) * math.ceil(args.speed_tokens / 50_000)
    from_text, ids_only, total = text_speed(documents)
    print(f"\n5. detection from text on {len(documents):,} documents, {total:,} tokens:")
    print(f"   tokenise + detect:   {from_text:>12,.0f} tokens/s")
    print(f"   detect alone:        {ids_only:>12,.0f} tokens/s")
    print(f"   from text is {ids_only / from_text:.1f}x slower")


if __name__ == "__main__":
    main()
