"""NLTK resources: lazy ensure/check, clear error when missing; POS tags."""

from __future__ import annotations

from pathlib import Path

import nltk
import pytest

from audit.errors import ResourceMissingError
from audit.nlp import pos, resources


def test_missing_resource_names_the_fetch_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [])  # restored by monkeypatch
    with pytest.raises(ResourceMissingError, match="audit data fetch") as info:
        resources.ensure("tagger")
    assert info.value.exit_code == 4
    assert nltk.data.path[0] == str(tmp_path)
    assert resources.check() == {name: False for name in resources.RESOURCES}


def test_unknown_resource() -> None:
    with pytest.raises(ResourceMissingError):
        resources.ensure("no-such-thing")


def test_shared_data_is_found() -> None:
    status = resources.check()
    if not all(status.values()):
        pytest.skip(f"shared NLTK data not available here: {status}")
    resources.ensure("tagger")
    resources.ensure("universal_tagset")


def test_pos_tags_ptb_and_universal() -> None:
    tokens = "schweiger is talented and terribly charismatic".split()
    tags = pos.tag(tokens)
    assert len(tags) == len(tokens)
    assert tags[1] == "VBZ" and tags[3] == "CC" and tags[4] == "RB"
    assert [pos.universal(t) for t in tags[1:]] == ["VERB", "VERB", "CONJ", "ADV", "ADJ"]
    assert pos.universal("RP") == "PRT"
    assert pos.universal("NOT-A-TAG") == "X"
    assert pos.tag([]) == []
