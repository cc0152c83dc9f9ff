"""Vocabulary with ``<pad>`` (id 0) and ``<unk>`` (id 1), saved as JSON with the model."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from audit.errors import ModelError

PAD = "<pad>"
UNK = "<unk>"


class Vocab:
    """A frozen token <-> id mapping. Ids 0 and 1 are ``<pad>`` and ``<unk>``."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if len(tokens) < 2 or tokens[0] != PAD or tokens[1] != UNK:
            raise ValueError("a vocabulary must start with <pad>, <unk>")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self._itos = list(tokens)
        self._stoi = {t: i for i, t in enumerate(self._itos)}

    pad_id = 0
    unk_id = 1

    @classmethod
    def build(cls, texts: Iterable[Sequence[str]], *, min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Build from tokenized texts; ties broken alphabetically so it is deterministic."""
        counts: Counter[str] = Counter()
        for toks in texts:
            counts.update(toks)
        items = sorted(((t, c) for t, c in counts.items() if c >= min_freq and t not in (PAD, UNK)), key=lambda x: (-x[1], x[0]))
        if max_size is not None:
            items = items[: max(0, max_size - 2)]
        return cls([PAD, UNK] + [t for t, _ in items])

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def id(self, token: str) -> int:
        return self._stoi.get(token, self.unk_id)

    def token(self, index: int) -> str:
        return self._itos[index]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self._stoi.get(t, self.unk_id) for t in tokens]

    @property
    def tokens(self) -> list[str]:
        return list(self._itos)

    def to_json(self) -> dict[str, object]:
        return {"format": "reat-audit.vocab", "version": 1, "tokens": self._itos}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            tokens = data["tokens"]
            return cls(tokens)
        except FileNotFoundError as exc:
            raise ModelError("vocabulary file is missing", path=p, hint="a model directory needs vocab.json") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"vocabulary file is invalid or truncated ({exc})", path=p, hint="re-export the model") from exc
