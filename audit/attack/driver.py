"""Per-driver-word flip rates (the paper's section 4.8.2 at scale).

For a driver word ``w`` and each synonym ``s`` (declared ``extra_synonyms``
first, then same-POS WordNet synonyms in the model's vocabulary):

* direction ``from``: in every text containing ``w``, replace each ``w`` by ``s``;
* direction ``to``: in every text containing ``s``, replace each ``s`` by ``w``;

and count how often the predicted class changes ("extremely" -> "terribly"
in positive reviews flips the paper's LSTM).  Every variant is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from audit.attack import _nlp
from audit.attack.goal import argmax
from audit.attack.recipe import AttackConfig
from audit.attack.transformation import WordNetSwap
from audit.models.base import AuditModel
from audit.nlp import wordnet

_BASE_TAGS = ("JJ", "RB", "NN", "VB")


@dataclass
class DriverVariant:
    word: str
    replacement: str
    direction: str
    text_index: int
    original: list[str]
    variant: list[str]
    pred_before: int
    probs_before: list[float]
    pred_after: int
    probs_after: list[float]

    @property
    def flipped(self) -> bool:
        return self.pred_after != self.pred_before


@dataclass
class DriverFlipRate:
    """One row of the ``driver_flip_rates`` table plus its variants."""

    word: str
    replacement: str
    direction: str
    n_texts: int
    n_flipped: int
    variants: list[DriverVariant] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.n_flipped / self.n_texts if self.n_texts else 0.0

    def to_row(self) -> dict[str, object]:
        return {"word": self.word, "replacement": self.replacement, "direction": self.direction,
                "n_texts": self.n_texts, "n_flipped": self.n_flipped, "rate": self.rate}


def driver_synonyms(model: AuditModel, token_lists: Sequence[Sequence[str]], word: str, *, config: AttackConfig) -> list[str]:
    """Synonyms of ``word`` used for flip rates: declared pairs, then WordNet (by its tags in the texts, then base tags)."""
    w = word.lower()
    swap = WordNetSwap(
        vocab=model.vocab if config.require_in_vocab else None,
        max_candidates=None,
        expand_intensifiers=config.expand_intensifiers,
        extra_synonyms=config.extra_synonyms,
    )
    found: list[str] = list(swap.extra.get(w, ()))
    for toks in token_lists:
        if w in toks:
            tags = _nlp.tag(toks)
            for i, t in enumerate(toks):
                if t == w:
                    found += swap.candidates(toks, tags, i)
    for tag in _BASE_TAGS:
        found += [s for s in wordnet.synonyms(w, tag, expand_intensifiers=config.expand_intensifiers)
                  if not config.require_in_vocab or s in model.vocab]
    out: list[str] = []
    for s in found:
        if s != w and s not in out:
            out.append(s)
    return out[: config.max_candidates] if config.max_candidates is not None else out


def _predict(model: AuditModel, batch: list[list[str]], chunk: int = 256) -> list[list[float]]:
    out: list[list[float]] = []
    for i in range(0, len(batch), chunk):
        out += model.predict_proba_tokens(batch[i : i + chunk]).tolist()
    return out


def driver_flip_rates(
    model: AuditModel,
    token_lists: Sequence[Sequence[str]],
    words: Sequence[str],
    *,
    config: AttackConfig | None = None,
) -> list[DriverFlipRate]:
    """Flip rates for every (driver word, synonym, direction) with at least one text."""
    cfg = config or AttackConfig()
    texts = [list(t) for t in token_lists]
    base_probs: list[list[float]] | None = None
    results: list[DriverFlipRate] = []
    for word in words:
        w = word.lower()
        for syn in driver_synonyms(model, texts, w, config=cfg):
            for direction, old, new in (("from", w, syn), ("to", syn, w)):
                idx = [i for i, t in enumerate(texts) if old in t]
                if not idx:
                    continue
                if base_probs is None:
                    base_probs = _predict(model, texts)
                variants = [[new if tok == old else tok for tok in texts[i]] for i in idx]
                after = _predict(model, variants)
                rows = [
                    DriverVariant(w, syn, direction, i, texts[i], v, argmax(base_probs[i]), base_probs[i], argmax(p), p)
                    for i, v, p in zip(idx, variants, after)
                ]
                results.append(DriverFlipRate(w, syn, direction, len(rows), sum(r.flipped for r in rows), rows))
    return results
