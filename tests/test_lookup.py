"""audit._lookup.lookup: the same values as Series.map, one call per distinct value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit._lookup import lookup


def test_lookup_equals_series_map_and_calls_once_per_distinct_value() -> None:
    words = pd.Series(["the", "film", ",", "the", "film", "is"], dtype="string")
    calls: list[str] = []

    def length(w: str) -> int:
        calls.append(w)
        return len(w)

    got = lookup(words, length, dtype=np.int64)
    assert got.tolist() == words.map(len).tolist() == [3, 4, 1, 3, 4, 2]
    assert calls == ["the", "film", ",", "is"]  # first-occurrence order: numbering by setdefault stays stable
    ids: dict[str, int] = {}
    assert lookup(words, lambda w: ids.setdefault(w, len(ids)), dtype=np.int64).tolist() == [0, 1, 2, 0, 1, 3]
    assert lookup(words, {"the": 1, "film": 2, ",": 3, "is": 4}, dtype=np.int16).dtype == np.int16
    assert lookup(words.iloc[:0], len, dtype=np.int64).shape == (0,)


def test_lookup_refuses_missing_keys_and_missing_rows() -> None:
    with pytest.raises(KeyError):
        lookup(pd.Series(["a", "b"]), {"a": 1}, dtype=np.int64)
    with pytest.raises(ValueError, match="missing"):
        lookup(pd.Series(["a", None]), len, dtype=np.int64)
