"""Model misbehaviour (paper section 4.8, Fig. 8, Tables 6 and 7).

* :func:`word_scores` -- the REAT score of chosen words at every occurrence in
  the test set, toward one class (Fig. 8: "terrible" vs "terribly" toward positive).
* :func:`failure_drivers` -- for each misclassified text, the words that pushed
  it to the wrong class: the top-k REAT scores toward the (wrong) predicted class.
* :func:`substitution_case` -- a word substitution with predictions before and
  after (Tables 6 and 7), and :func:`find_search_cases` to pick dataset texts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

log = logging.getLogger(__name__)

ProbaFn = Callable[[Sequence[Sequence[str]]], np.ndarray]


@dataclass
class WordOccurrences:
    word: str
    example_ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        s = np.asarray(self.scores, dtype=float)
        return {
            "word": self.word,
            "n": int(s.size),
            "mean": float(s.mean()) if s.size else None,
            "median": float(np.median(s)) if s.size else None,
            "min": float(s.min()) if s.size else None,
            "max": float(s.max()) if s.size else None,
            "share_negative": float((s < 0).mean()) if s.size else None,
        }


def word_scores(
    tokens: Sequence[Sequence[str]], scores: Sequence[np.ndarray], words: Sequence[str]
) -> dict[str, WordOccurrences]:
    """Scores of each of ``words`` at each of its occurrences (``scores[i]`` aligned with ``tokens[i]``)."""
    wanted = {w.lower(): WordOccurrences(word=w.lower()) for w in words}
    for i, (toks, sc) in enumerate(zip(tokens, scores)):
        for j, t in enumerate(toks):
            occ = wanted.get(t.lower())
            if occ is not None:
                occ.example_ids.append(i)
                occ.positions.append(j)
                occ.scores.append(float(sc[j]))
    return wanted


@dataclass
class Failure:
    example_id: int
    text: str
    gold: int
    pred: int
    prob_pred: float
    drivers: list[dict[str, object]]


def failure_drivers(
    tokens: Sequence[Sequence[str]],
    gold: Sequence[int],
    preds: Sequence[int],
    probs_pred: Sequence[float],
    scores_pred: Sequence[np.ndarray],
    *,
    top_k: int = 3,
) -> list[Failure]:
    """For each text with ``pred != gold``: the ``top_k`` words with the highest positive score
    toward the predicted class (words with a score <= 0 did not push toward it)."""
    out: list[Failure] = []
    for i, (toks, g, p, pp, sc) in enumerate(zip(tokens, gold, preds, probs_pred, scores_pred)):
        if int(g) == int(p):
            continue
        s = np.asarray(sc, dtype=float)
        order = [j for j in np.argsort(-s, kind="stable") if s[j] > 0][:top_k]
        drivers = [
            {"rank": r + 1, "position": int(j), "word": toks[j], "score": float(s[j])} for r, j in enumerate(order)
        ]
        out.append(
            Failure(example_id=i, text=" ".join(toks), gold=int(g), pred=int(p), prob_pred=float(pp), drivers=drivers)
        )
    return out


def failure_word_counts(failures: Sequence[Failure]) -> list[tuple[str, int]]:
    """How often each word is the top driver of a failure, most frequent first."""
    counts: dict[str, int] = {}
    for f in failures:
        if f.drivers:
            w = str(f.drivers[0]["word"])
            counts[w] = counts.get(w, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def substitute(tokens: Sequence[str], source: str, replacement: str) -> list[str]:
    """Replace every token equal to ``source`` (case-insensitive) by ``replacement``."""
    return [replacement if t.lower() == source.lower() else t for t in tokens]


@dataclass
class SubstitutionResult:
    original: str
    variant: str
    source: str
    replacement: str
    pred_before: int
    prob_before: list[float]
    pred_after: int
    prob_after: list[float]
    flipped: bool
    top_word_before: str | None = None
    top_score_before: float | None = None
    source_score_before: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def substitution_case(
    tokens: Sequence[str],
    source: str,
    replacement: str,
    proba: ProbaFn,
    *,
    scores_pred: np.ndarray | None = None,
) -> SubstitutionResult:
    """Predictions before and after ``source -> replacement``; with REAT scores of the original
    toward its prediction, also the top word and the score of ``source``."""
    variant = substitute(tokens, source, replacement)
    probs = np.asarray(proba([list(tokens), variant]), dtype=float)
    before, after = probs[0], probs[1]
    top_word = top_score = src_score = None
    if scores_pred is not None:
        s = np.asarray(scores_pred, dtype=float)
        j = int(np.argmax(s))
        top_word, top_score = tokens[j], float(s[j])
        hits = [k for k, t in enumerate(tokens) if t.lower() == source.lower()]
        src_score = float(s[hits].sum()) if hits else None
    return SubstitutionResult(
        original=" ".join(tokens),
        variant=" ".join(variant),
        source=source,
        replacement=replacement,
        pred_before=int(before.argmax()),
        prob_before=[float(x) for x in before],
        pred_after=int(after.argmax()),
        prob_after=[float(x) for x in after],
        flipped=int(before.argmax()) != int(after.argmax()),
        top_word_before=top_word,
        top_score_before=top_score,
        source_score_before=src_score,
    )


def find_search_cases(
    tokens: Sequence[Sequence[str]], preds: Sequence[int], *, word: str, predicted_label: int
) -> list[int]:
    """Indices of texts containing ``word`` whose prediction is ``predicted_label`` (Table 7's search)."""
    w = word.lower()
    return [
        i
        for i, (toks, p) in enumerate(zip(tokens, preds))
        if int(p) == predicted_label and any(t.lower() == w for t in toks)
    ]
