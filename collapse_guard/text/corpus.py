"""Text corpora: the embedded default (real English shipped with Python) and readers for users' corpora.

The default real corpus has to exist on a machine without internet, so it is the Python reference
manual's topic texts that CPython itself ships (``pydoc_data.topics``): human-written technical English,
split into paragraphs. Real, human-made data is the anchor that keeps recursive training from collapsing
(Shumailov et al. 2024; Gerstgrasser et al. 2024), so it must be real text, not generated filler.

Readers are all-or-nothing: a malformed line raises a DataError naming the file and the line, and nothing
is returned half-read, so an ingest never appends part of a bad crawl.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from collapse_guard.errors import DataError
from collapse_guard.text.tokenizer import words

TEXT = "text"
DEFAULT_MIN_WORDS = 30
MIN_WORD_TOKEN_SHARE = 0.5
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_TABLE_OR_GRAMMAR = re.compile(r"[-=]{4,}|\+-|-\+|::=")


def default_corpus(min_words: int = DEFAULT_MIN_WORDS) -> pd.DataFrame:
    """Prose paragraphs of at least ``min_words`` words from ``pydoc_data.topics``, topics in sorted order,
    whitespace collapsed, exact repeats dropped (the manual repeats some paragraphs across topics).

    ASCII tables, grammar productions and code-heavy paragraphs are left out: they are not English, and
    their long runs of "-" or "|" teach a small model loops that carry no watermark and no meaning.
    Deterministic for a given Python version (the topics ship with the interpreter).
    """
    from pydoc_data.topics import topics

    seen: set[str] = set()
    documents = []
    for name in sorted(topics):
        for paragraph in _PARAGRAPH_BREAK.split(topics[name]):
            cleaned = " ".join(paragraph.split())
            if cleaned not in seen and _is_prose(cleaned, min_words):
                seen.add(cleaned)
                documents.append(cleaned)
    return pd.DataFrame({TEXT: documents})


def _is_prose(paragraph: str, min_words: int) -> bool:
    if len(paragraph.split()) < min_words or _TABLE_OR_GRAMMAR.search(paragraph):
        return False
    tokens = words(paragraph)
    word_tokens = sum(token[0].isalnum() or token[0] == "_" for token in tokens)
    return word_tokens >= MIN_WORD_TOKEN_SHARE * len(tokens)


def read_corpus(path: Path) -> pd.DataFrame:
    """Documents from a JSONL file (one object per line with a string ``text``), a Parquet file with a
    ``text`` column, or a folder of UTF-8 ``.txt`` files (one document per file, sorted by name).

    Raises DataError naming the file (and the line or row) on the first malformed document.
    """
    path = Path(path)
    if path.is_dir():
        return _read_txt_folder(path)
    if not path.is_file():
        raise DataError("corpus file or folder not found", path=str(path))
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path)
    return _read_jsonl(path)


def iter_corpus(path: Path, batch_documents: int) -> Iterator[pd.DataFrame]:
    """``read_corpus`` in batches of up to ``batch_documents`` (Parquet read with pyarrow's ``iter_batches``,
    JSONL line by line, a folder file by file), so a crawl of any size is read in bounded memory. Each
    batch has ``text`` and ``line`` (the 1-based line, row or file number). The same checks: a malformed
    document raises DataError naming it, possibly after earlier batches were yielded, so a caller that
    writes must write to a temporary place until the last batch is through."""
    path = Path(path)
    if path.is_dir():
        yield from _batched(_read_txt_folder(path), batch_documents)
        return
    if not path.is_file():
        raise DataError("corpus file or folder not found", path=str(path))
    if path.suffix.lower() in (".parquet", ".pq"):
        yield from _iter_parquet(path, batch_documents)
        return
    yield from _iter_jsonl(path, batch_documents)


def _batched(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    frame = frame.assign(line=range(1, len(frame) + 1))
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size].reset_index(drop=True)


def _iter_jsonl(path: Path, size: int) -> Iterator[pd.DataFrame]:
    texts: list[str] = []
    lines: list[int] = []
    documents = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                reason = f"line {number}: not UTF-8 text ({exc.reason} at byte {exc.start} of the line)"
                raise DataError(reason, path=str(path)) from exc
            if line.strip():
                texts.append(_jsonl_text(line, number, path))
                lines.append(number)
                documents += 1
            if len(texts) >= size:
                yield pd.DataFrame({TEXT: texts, "line": lines})
                texts, lines = [], []
    if texts:
        yield pd.DataFrame({TEXT: texts, "line": lines})
    if not documents:
        raise DataError("no documents in the file", path=str(path))


def _iter_parquet(path: Path, size: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
        if TEXT not in source.schema_arrow.names:
            raise DataError(
                f"Parquet file has no '{TEXT}' column (columns: {source.schema_arrow.names})", path=str(path)
            )
        batches = source.iter_batches(batch_size=size, columns=[TEXT])
        first = 1
        for batch in batches:
            texts = batch.column(0).to_pylist()
            for row, text in enumerate(texts, start=first):
                if not isinstance(text, str) or not text.strip():
                    raise DataError(f"row {row}: missing, empty or non-string text", path=str(path))
            yield pd.DataFrame({TEXT: texts, "line": range(first, first + len(texts))})
            first += len(texts)
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises many exception types for a corrupt file
        raise DataError(f"cannot read Parquet ({type(exc).__name__}: {exc})", path=str(path)) from exc
    if first == 1:
        raise DataError("no documents in the file", path=str(path))


def _decoded_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"line {line}: not UTF-8 text ({exc.reason} at byte {exc.start})", path=str(path)) from exc


def _read_jsonl(path: Path) -> pd.DataFrame:
    texts = []
    for number, line in enumerate(_decoded_lines(path), start=1):
        if line.strip():
            texts.append(_jsonl_text(line, number, path))
    if not texts:
        raise DataError("no documents in the file", path=str(path))
    return pd.DataFrame({TEXT: texts})


def _jsonl_text(line: str, number: int, path: Path) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"line {number}: not valid JSON ({exc.msg}, column {exc.colno})", path=str(path)) from exc
    if not isinstance(record, dict) or TEXT not in record:
        raise DataError(f"line {number}: no '{TEXT}' field", path=str(path))
    text = record[TEXT]
    if not isinstance(text, str):
        raise DataError(f"line {number}: '{TEXT}' is a {type(text).__name__}, not a string", path=str(path))
    if not text.strip():
        raise DataError(f"line {number}: empty text", path=str(path))
    return text


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many exception types for a corrupt file
        raise DataError(f"cannot read Parquet ({type(exc).__name__}: {exc})", path=str(path)) from exc
    if TEXT not in frame.columns:
        raise DataError(f"Parquet file has no '{TEXT}' column (columns: {list(frame.columns)})", path=str(path))
    texts = frame[TEXT].tolist()
    for row, text in enumerate(texts, start=1):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"row {row}: missing, empty or non-string text", path=str(path))
    if not texts:
        raise DataError("no documents in the file", path=str(path))
    return pd.DataFrame({TEXT: texts})


def _read_txt_folder(folder: Path) -> pd.DataFrame:
    texts = []
    for file in sorted(folder.glob("*.txt")):
        text = "\n".join(_decoded_lines(file))
        if not text.strip():
            raise DataError("line 1: empty text", path=str(file))
        texts.append(text)
    if not texts:
        raise DataError("no .txt documents in the folder", path=str(folder))
    return pd.DataFrame({TEXT: texts})
