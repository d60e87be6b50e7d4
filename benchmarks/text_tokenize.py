"""Tokenising for watermark detection and near-duplicate hashing: the compiled scan against the regex.

Prints ns per token of ``batch_token_ids`` (the compiled scan, collapse_guard.text.token_scan) and of
``regex_batch_token_ids`` (the regex path it replaces and is tested against) on default-corpus paragraphs
(20,000, and a 1M-token batch) and on the standard library's docstrings (many more distinct words), the
scan's stages, and what a fresh process pays once: the code-point table and loading (or, with an empty
numba cache, compiling) the scan. Checks the two paths agree id for id on every batch.

    .venv/bin/python benchmarks/text_tokenize.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collapse_guard.offline import apply_offline_defaults

apply_offline_defaults()

from collapse_guard.text import token_scan  # noqa: E402
from collapse_guard.text.corpus import default_corpus  # noqa: E402
from collapse_guard.text.tokenizer import (  # noqa: E402
    batch_token_ids,
    distinct_token_ids,
    words,
)
from tests.text.tokenizer_oracle import regex_batch_token_ids  # noqa: E402

FIRST_CALL = """
import time
start = time.perf_counter()
from collapse_guard.text.tokenizer import batch_token_ids
from collapse_guard.text.token_scan import code_point_table
imported = time.perf_counter()
code_point_table()
table = time.perf_counter()
batch_token_ids(["Warm up."])
done = time.perf_counter()
print(imported - start, table - imported, done - table)
"""


def best_of(repeats: int, run) -> float:
    """The fastest of ``repeats`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def stdlib_docstrings() -> list[str]:
    """Docstrings of the standard library's modules: real prose and code the corpus has not seen."""
    import ast
    import sysconfig

    texts = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module) and ast.get_docstring(node):
                texts.append(ast.get_docstring(node))
    return texts


def stages(texts: list[str]) -> dict[str, float]:
    """Seconds of each stage of ``batch_token_ids`` (best of 3)."""
    joined = "".join(texts)
    table = token_scan.code_point_table()
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    mask = np.uint64((1 << 64) - 1)
    tokens, _, _, starts, sizes = token_scan.scan(codes, ends, table, mask)
    distinct = distinct_token_ids(joined, starts, sizes)

    def encode() -> None:
        np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)

    def ids() -> None:
        distinct_token_ids(joined, starts, sizes)

    return {
        "join + utf-32": best_of(3, encode),
        "scan": best_of(3, lambda: token_scan.scan(codes, ends, table, mask)),
        f"ids of {len(starts):,} distinct": best_of(3, ids),
        "gather": best_of(3, lambda: distinct[tokens]),
    }


def measure(name: str, texts: list[str]) -> None:
    fast, lengths = batch_token_ids(texts)
    reference, reference_lengths = regex_batch_token_ids(texts)
    if not (np.array_equal(fast, reference) and np.array_equal(lengths, reference_lengths)):
        raise SystemExit(f"{name}: the compiled scan and the regex disagree")
    total = len(fast)
    compiled = best_of(3, lambda: batch_token_ids(texts)) / total * 1e9
    regex = best_of(3, lambda: regex_batch_token_ids(texts)) / total * 1e9
    print(f"{name}: {len(texts):,} texts, {total:,} tokens")
    print(f"   compiled scan {compiled:6.1f} ns/token ({1e3 / compiled:.1f}M tokens/s)")
    print(f"   regex         {regex:6.1f} ns/token ({1e3 / regex:.1f}M tokens/s), {regex / compiled:.1f}x slower")
    print("   stages: " + ", ".join(f"{k} {v / total * 1e9:.1f}" for k, v in stages(texts).items()) + " ns/token")


def first_call(cache_dir: str | None) -> list[float]:
    """A fresh process's import, table and first call, in seconds; with ``cache_dir``, numba's cache there."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def main() -> None:
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}\n")
    corpus = default_corpus()["text"].tolist()
    measure("default corpus, 20,000 paragraphs", [corpus[i % len(corpus)] for i in range(20_000)])
    per_paragraph = sum(len(words(t)) for t in corpus) / len(corpus)
    million = [corpus[i % len(corpus)] for i in range(round(1_000_000 / per_paragraph))]
    measure("default corpus, a 1M-token batch", million)
    measure("stdlib docstrings", stdlib_docstrings())
    with tempfile.TemporaryDirectory() as cache:
        cold = first_call(cache)
        warm = first_call(cache)
    print("\nonce per process (import of the tokenizer, code-point table, first call incl. numba import + JIT):")
    print(f"   numba cache cold: {cold[0]:.2f} s, table {cold[1]:.2f} s, first call {cold[2]:.2f} s")
    print(f"   numba cache warm: {warm[0]:.2f} s, table {warm[1]:.2f} s, first call {warm[2]:.2f} s")


if __name__ == "__main__":
    main()
