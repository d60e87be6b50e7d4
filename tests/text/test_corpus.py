import json

import pandas as pd
import pytest

from collapse_guard.errors import DataError
from collapse_guard.text.corpus import TEXT, default_corpus, read_corpus
from collapse_guard.text.tokenizer import words


def test_default_corpus_is_deterministic_real_prose(corpus):
    assert list(corpus.columns) == [TEXT]
    assert len(corpus) > 400
    assert corpus[TEXT].equals(default_corpus()[TEXT])
    assert not corpus[TEXT].duplicated().any()
    assert corpus[TEXT].map(lambda t: len(t.split())).min() >= 30
    assert not corpus[TEXT].str.contains("----").any()  # no ASCII tables
    assert sum(len(words(t)) for t in corpus[TEXT]) > 30_000


def _jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reads_jsonl_parquet_and_txt_folders(tmp_path):
    jsonl = _jsonl(tmp_path / "a.jsonl", [json.dumps({"text": "one", "url": "x"}), "", json.dumps({"text": "two"})])
    assert read_corpus(jsonl)[TEXT].tolist() == ["one", "two"]
    pd.DataFrame({TEXT: ["p", "q"], "other": [1, 2]}).to_parquet(tmp_path / "b.parquet")
    assert read_corpus(tmp_path / "b.parquet")[TEXT].tolist() == ["p", "q"]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "2.txt").write_text("second", encoding="utf-8")
    (folder / "1.txt").write_text("first\nline", encoding="utf-8")
    (folder / "ignored.md").write_text("not a txt", encoding="utf-8")
    assert read_corpus(folder)[TEXT].tolist() == ["first\nline", "second"]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"text": "unterminated', "line 3: not valid JSON"),
        ('{"body": "no text field"}', "line 3: no 'text' field"),
        ('{"text": "   "}', "line 3: empty text"),
        ('{"text": 42}', "line 3: 'text' is a int"),
        ('["text"]', "line 3: no 'text' field"),
    ],
)
def test_malformed_jsonl_names_the_file_and_the_line(tmp_path, bad_line, message):
    path = _jsonl(tmp_path / "crawl.jsonl", ['{"text": "fine"}', '{"text": "also fine"}', bad_line, '{"text": "x"}'])
    with pytest.raises(DataError, match=message) as error:
        read_corpus(path)
    assert str(path) in str(error.value)


def test_wrong_encoding_names_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataError, match="line 2: not UTF-8") as error:
        read_corpus(path)
    assert "latin1.jsonl" in str(error.value)
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"fine\n")
    (folder / "b.txt").write_bytes(b"line one\nbad \xff byte\n")
    with pytest.raises(DataError, match=r"line 2: not UTF-8.*b\.txt"):
        read_corpus(folder)


def test_bad_parquet_and_missing_inputs(tmp_path):
    pd.DataFrame({"body": ["x"]}).to_parquet(tmp_path / "nocol.parquet")
    with pytest.raises(DataError, match="no 'text' column"):
        read_corpus(tmp_path / "nocol.parquet")
    pd.DataFrame({TEXT: ["x", None]}).to_parquet(tmp_path / "null.parquet")
    with pytest.raises(DataError, match="row 2"):
        read_corpus(tmp_path / "null.parquet")
    (tmp_path / "garbage.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read Parquet"):
        read_corpus(tmp_path / "garbage.parquet")
    with pytest.raises(DataError, match="not found"):
        read_corpus(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="no documents"):
        read_corpus(tmp_path / "empty.jsonl")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataError, match="no .txt documents"):
        read_corpus(tmp_path / "emptydir")
