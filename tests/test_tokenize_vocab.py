"""Tokenizer (SST-2 round trip, raw text) and vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.data.readers import read_dataset
from audit.data.tokenize import tokenize
from audit.data.vocab import PAD, UNK, Vocab
from audit.errors import ModelError, ResourceMissingError


def _sst_path(split: str) -> Path:
    from audit.settings import resolve_data_path

    try:
        path = resolve_data_path(f"data:sst2/{split}.tsv")
    except ResourceMissingError:
        pytest.skip("AUDIT_DATA_DIR / shared data not available")
    if not path.is_file():
        pytest.skip("SST-2 not available")
    return path


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_tokenize_reproduces_sst2(split: str) -> None:
    ds = read_dataset(_sst_path(split))
    bad = [(line, text) for line, text in zip(ds.lines, ds.texts) if tokenize(text) != text.split()]
    assert bad == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Schweiger is talented and terribly charismatic, qualities...",
            ["schweiger", "is", "talented", "and", "terribly", "charismatic", ",", "qualities", "..."],
        ),
        ("It doesn't work.", ["it", "does", "n't", "work", "."]),
        ('"Great" film (really)!', ["``", "great", "''", "film", "(", "really", ")", "!"]),
        ("Mr. Smith lives in the U.S. now", ["mr.", "smith", "lives", "in", "the", "u.s.", "now"]),
        ("The answer is no.", ["the", "answer", "is", "no", "."]),
        ("  two\tspaces\n", ["two", "spaces"]),
        ("", []),
    ],
)
def test_tokenize_raw_text(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_tokenize_is_deterministic_and_lowercase() -> None:
    text = "A Gorgeous, WITTY film -- isn't it?"
    assert tokenize(text) == tokenize(text)
    assert all(t == t.lower() for t in tokenize(text))


def test_vocab_build_min_freq_and_order(tmp_path: Path) -> None:
    texts = [["b", "a", "c"], ["a", "b"], ["a", "d"]]
    v = Vocab.build(texts, min_freq=2)
    assert v.tokens == [PAD, UNK, "a", "b"]  # by count, ties alphabetical; c, d below min_freq
    assert v.encode(["a", "zzz", "b"]) == [2, 1, 3]
    assert v.pad_id == 0 and v.unk_id == 1 and "c" not in v
    assert Vocab.build(texts, max_size=3).tokens == [PAD, UNK, "a"]
    v.save(tmp_path / "vocab.json")
    assert Vocab.load(tmp_path / "vocab.json").tokens == v.tokens
    (tmp_path / "bad.json").write_text('{"tokens": ["<pad>", "<unk>", "a"', encoding="utf-8")
    with pytest.raises(ModelError, match="bad.json"):
        Vocab.load(tmp_path / "bad.json")
