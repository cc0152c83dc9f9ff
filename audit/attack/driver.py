"""Per-driver-word flip rates (the paper's section 4.8.2 at scale).

For a driver word ``w`` and each synonym ``s`` (declared ``extra_synonyms``
first, then same-POS WordNet synonyms in the model's vocabulary):

* direction ``from``: in every text containing ``w``, replace each ``w`` by ``s``;
* direction ``to``: in every text containing ``s``, replace each ``s`` by ``w``;

and count how often the predicted class changes ("extremely" -> "terribly"
in positive reviews flips the paper's LSTM).  Every variant is recorded, with the strict
checks' evidence (each replaced occurrence judged in its sentence).

Counts use strict-valid variants only (``n_texts``, ``n_flipped``, ``n_breaks``, ``n_fixes``);
``n_texts_raw`` / ``n_flipped_raw`` count every variant.  Declared pairs
(``extra_synonyms``, e.g. terribly/extremely) stay allowed -- they are exempt from the
lexical checks -- and are marked ``declared``.  A flip of a correctly classified text is a
*break*, of a misclassified one a *fix* (``golds`` needed; without them every flip is a break).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from audit.attack import _nlp
from audit.attack.edit import apply_swap, article_fix
from audit.attack.goal import argmax
from audit.attack.recipe import AttackConfig, ReatWordNetAttack
from audit.attack.transformation import WordNetSwap
from audit.attack.validity import Validator, VariantEvidence
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
    gold: int | None = None
    swaps: list[dict[str, object]] = field(default_factory=list)
    evidence: VariantEvidence | None = None
    declared: bool = False

    @property
    def flipped(self) -> bool:
        return self.pred_after != self.pred_before

    @property
    def valid(self) -> bool:
        return self.evidence is not None and self.evidence.valid

    @property
    def probe(self) -> str:
        """``break`` when the original was classified correctly (or no gold), else ``fix``."""
        return "break" if self.gold is None or self.pred_before == self.gold else "fix"


@dataclass
class DriverFlipRate:
    """One row of the ``driver_flip_rates`` table plus its variants."""

    word: str
    replacement: str
    direction: str
    n_texts: int
    n_flipped: int
    variants: list[DriverVariant] = field(default_factory=list)
    declared: bool = False
    n_breaks: int = 0
    n_fixes: int = 0
    n_texts_raw: int = 0
    n_flipped_raw: int = 0
    key: int = -1  # 2 * plan index + direction (0 "from", 1 "to"): the rate's place in the run's table

    @property
    def rate(self) -> float:
        return self.n_flipped / self.n_texts if self.n_texts else 0.0

    def to_row(self) -> dict[str, object]:
        return {"word": self.word, "replacement": self.replacement, "direction": self.direction,
                "n_texts": self.n_texts, "n_flipped": self.n_flipped, "rate": self.rate,
                "declared": self.declared, "n_breaks": self.n_breaks, "n_fixes": self.n_fixes,
                "n_texts_raw": self.n_texts_raw, "n_flipped_raw": self.n_flipped_raw}


def synonym_swap(model: AuditModel, config: AttackConfig) -> WordNetSwap:
    """The transformation whose candidates :func:`driver_synonyms` collects (no candidate cap)."""
    return WordNetSwap(
        vocab=model.vocab if config.require_in_vocab else None,
        max_candidates=None,
        expand_intensifiers=config.expand_intensifiers,
        extra_synonyms=config.extra_synonyms,
    )


def text_candidates(swap: WordNetSwap, tokens: Sequence[str], word: str) -> list[str]:
    """``swap``'s candidates for every occurrence of ``word`` in ``tokens`` (tagged here), in order, each
    once: a text's share of :func:`driver_synonyms` (texts can be scanned in chunks and joined in order)."""
    if word not in tokens:
        return []
    toks = list(tokens)
    tags = _nlp.tag(toks)
    found: list[str] = []
    for i, t in enumerate(toks):
        if t == word:
            found += swap.candidates(toks, tags, i)
    return list(dict.fromkeys(found))


def finish_synonyms(model: AuditModel, swap: WordNetSwap, word: str, from_texts: Sequence[str], *,
                    config: AttackConfig) -> list[str]:
    """:func:`driver_synonyms` from the texts' candidates (:func:`text_candidates` of every text, in text
    order): declared pairs first, then the texts' candidates, then WordNet's by base tag; capped."""
    w = word.lower()
    found: list[str] = list(swap.extra.get(w, ())) + list(from_texts)
    for tag in _BASE_TAGS:
        found += [s for s in wordnet.synonyms(w, tag, expand_intensifiers=config.expand_intensifiers)
                  if not config.require_in_vocab or s in model.vocab]
    out: list[str] = []
    for s in found:
        if s != w and s not in out:
            out.append(s)
    return out[: config.max_candidates] if config.max_candidates is not None else out


def driver_synonyms(model: AuditModel, token_lists: Sequence[Sequence[str]], word: str, *, config: AttackConfig) -> list[str]:
    """Synonyms of ``word`` used for flip rates: declared pairs, then WordNet (by its tags in the texts, then base tags)."""
    w = word.lower()
    swap = synonym_swap(model, config)
    return finish_synonyms(model, swap, w, [c for toks in token_lists for c in text_candidates(swap, toks, w)],
                           config=config)


def flip_plan(model: AuditModel, words: Sequence[str], synonyms: Sequence[Sequence[str]], *,
              config: AttackConfig) -> list[tuple[str, str, bool]]:
    """``(word, synonym, declared)`` of every probe, in order (``synonyms[i]``: :func:`driver_synonyms` of
    ``words[i]``)."""
    declared_pairs = {k: set(v) for k, v in WordNetSwap(extra_synonyms=config.extra_synonyms).extra.items()}
    return [(w.lower(), syn, syn in declared_pairs.get(w.lower(), set()))
            for w, syns in zip(words, synonyms, strict=True) for syn in syns]


def _predict(model: AuditModel, batch: list[list[str]], chunk: int = 256) -> list[list[float]]:
    out: list[list[float]] = []
    for i in range(0, len(batch), chunk):
        out += model.predict_proba_tokens(batch[i : i + chunk]).tolist()
    return out


def _variant(tokens: list[str], old: str, new: str) -> tuple[list[str], list[dict[str, object]]]:
    """Every ``old`` replaced by ``new`` (a/an adjusted), and the swaps in order."""
    current = list(tokens)
    swaps: list[dict[str, object]] = []
    for i, tok in enumerate(tokens):
        if tok != old:
            continue
        fix = article_fix(current, i, new)
        if fix is not None:
            swaps.append({"position": fix[0], "original": current[fix[0]], "replacement": fix[1], "pos": "DT"})
        swaps.append({"position": i, "original": old, "replacement": new, "pos": ""})
        current = apply_swap(current, i, new)
    return current, swaps


def driver_flip_rates(
    model: AuditModel,
    token_lists: Sequence[Sequence[str]],
    words: Sequence[str],
    *,
    config: AttackConfig | None = None,
    golds: Sequence[int | None] | None = None,
    tags: Sequence[Sequence[str]] | None = None,
    validator: Validator | None = None,
) -> list[DriverFlipRate]:
    """Flip rates for every (driver word, synonym, direction) with at least one text.

    ``tags``: PTB tags per text (tagged here when None); ``validator``: the strict checks
    (default: those of ``ReatWordNetAttack(config)``).  The same as :func:`flip_probes` of the
    :func:`flip_plan` (what the nightly job runs chunk by chunk of texts)."""
    cfg = config or AttackConfig()
    texts = [list(t) for t in token_lists]
    plan = flip_plan(model, words, [driver_synonyms(model, texts, w.lower(), config=cfg) for w in words], config=cfg)
    return flip_probes(model, texts, plan, config=cfg, golds=golds, tags=tags, validator=validator)


def flip_probes(
    model: AuditModel,
    token_lists: Sequence[Sequence[str]],
    plan: Sequence[tuple[str, str, bool]],
    *,
    config: AttackConfig | None = None,
    golds: Sequence[int | None] | None = None,
    tags: Sequence[Sequence[str]] | None = None,
    validator: Validator | None = None,
) -> list[DriverFlipRate]:
    """The probes of ``plan`` (``(word, synonym, declared)``, :func:`flip_plan`) on these texts: for each
    and each direction with at least one text here, a :class:`DriverFlipRate` whose ``key`` is
    ``2 * plan index + (0 for "from", 1 for "to")``.  Texts are independent: the probes of a run split
    into chunks of texts add up (counts summed by key, variants joined) to the probes of the whole run."""
    cfg = config or AttackConfig()
    judge = validator if validator is not None else ReatWordNetAttack(cfg).validator
    texts = [list(t) for t in token_lists]
    gold_list = list(golds) if golds is not None else [None] * len(texts)
    tag_cache: dict[int, list[str]] = {}

    def tags_of(i: int) -> list[str]:
        if i not in tag_cache:
            given = tags[i] if tags is not None else None
            tag_cache[i] = list(given) if given is not None and len(given) == len(texts[i]) else _nlp.tag(texts[i])
        return tag_cache[i]

    base_probs: list[list[float]] | None = None
    results: list[DriverFlipRate] = []
    for p, (w, syn, declared) in enumerate(plan):
        for d, (direction, old, new) in enumerate((("from", w, syn), ("to", syn, w))):
            idx = [i for i, t in enumerate(texts) if old in t]
            if not idx:
                continue
            if base_probs is None:
                base_probs = _predict(model, texts)
            built = [_variant(texts[i], old, new) for i in idx]
            after = _predict(model, [v for v, _ in built])
            rows = []
            for i, (v, swaps), prob in zip(idx, built, after, strict=True):
                for s in swaps:
                    if s["pos"] == "":
                        s["pos"] = tags_of(i)[int(str(s["position"]))]
                evidence = judge.variant(texts[i], swaps, tags=tags_of(i))
                rows.append(DriverVariant(w, syn, direction, i, texts[i], v, argmax(base_probs[i]), base_probs[i],
                                          argmax(prob), prob, gold=gold_list[i], swaps=swaps, evidence=evidence,
                                          declared=declared))
            valid = [r for r in rows if r.valid]
            results.append(DriverFlipRate(
                w, syn, direction, len(valid), sum(r.flipped for r in valid), rows, declared=declared,
                n_breaks=sum(r.flipped and r.probe == "break" for r in valid),
                n_fixes=sum(r.flipped and r.probe == "fix" for r in valid),
                n_texts_raw=len(rows), n_flipped_raw=sum(r.flipped for r in rows), key=2 * p + d,
            ))
    return results
