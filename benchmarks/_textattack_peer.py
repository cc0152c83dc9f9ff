"""TextAttack glue for benchmarks/attack_quality.py (PWWS on our model and our candidate set).

Imported only by the benchmark, inside the separate ``.bench-venv`` that has
TextAttack.  The peer gets exactly the candidates our attack would consider:
our :class:`~audit.attack.WordNetSwap` (in-vocabulary) filtered by our
stopword, entity and POS-match constraints, wrapped as a TextAttack
``WordSwap``.  TextAttack's own query counter (unique texts sent to the
model) is reported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import textattack
from textattack import Attack
from textattack.constraints.overlap import MaxWordsPerturbed
from textattack.constraints.pre_transformation import RepeatModification, StopwordModification
from textattack.goal_functions import UntargetedClassification
from textattack.models.wrappers import ModelWrapper
from textattack.search_methods import GreedyWordSwapWIR
from textattack.shared.utils import words_from_text
from textattack.transformations import WordSwap

from audit.attack import _nlp
from audit.attack.constraints import Constraint, SwapContext, apply_filters
from audit.attack.edit import article_fix
from audit.attack.transformation import Transformation
from audit.models.base import AuditModel

# TextAttack warns once per Attack that it does not know our model class; the wrapper is tested here instead.
textattack.shared.logger.setLevel(logging.ERROR)


class AuditModelWrapper(ModelWrapper):  # type: ignore[misc]
    """TextAttack model wrapper: whitespace tokens (SST-2 lines are pre-tokenized) -> probabilities."""

    def __init__(self, model: AuditModel) -> None:
        self.model = model

    def __call__(self, text_input_list: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(text_input_list), 256):
            batch = [t.split() or ["<unk>"] for t in text_input_list[i : i + 256]]
            out.append(self.model.predict_proba_tokens(batch).numpy())
        return np.concatenate(out)


def _token_of_word(tokens: Sequence[str]) -> list[int | None]:
    """TextAttack word index -> our token position (None where a token is not exactly one word)."""
    mapping: list[int | None] = []
    for k, tok in enumerate(tokens):
        words = words_from_text(tok)
        if len(words) == 1 and words[0] == tok:
            mapping.append(k)
        else:
            mapping.extend([None] * len(words))
    return mapping


class SameCandidates(WordSwap):  # type: ignore[misc]
    """Our candidate set (WordNetSwap + our filters) as a TextAttack transformation."""

    def __init__(self, swap: Transformation, filters: Sequence[Constraint]) -> None:
        super().__init__()
        self.swap = swap
        self.filters = list(filters)

    @property
    def deterministic(self) -> bool:
        return True

    def _get_transformations(self, current_text: Any, indices_to_modify: Any) -> list[Any]:
        tokens = current_text.text.split()
        mapping = _token_of_word(tokens)
        if len(mapping) != len(current_text.words):
            return []
        tags = tuple(_nlp.tag(tokens))
        out = []
        for i in sorted(indices_to_modify):
            k = mapping[i]
            if k is None:
                continue
            ctx = SwapContext(tokens=tuple(tokens), tags=tags, position=k)
            if not all(c.allows_position(ctx) for c in self.filters):
                continue
            for cand in apply_filters(ctx, self.swap.candidates(ctx.tokens, tags, k), self.filters):
                fix = article_fix(tokens, k, cand)
                if fix is not None and i > 0 and mapping[i - 1] == fix[0]:
                    out.append(current_text.replace_words_at_indices([i - 1, i], [fix[1], cand]))
                else:
                    out.append(current_text.replace_word_at_index(i, cand))
        return out


def _glove_embedding() -> Any:
    """Our GloVe vectors as a TextAttack ``WordEmbedding`` (TextFooler's counter-fitted ones are downloaded)."""
    from textattack.shared import WordEmbedding

    from audit.data.embeddings import vector_words
    from audit.nlp.vectors import default_vectors_path, load_word_vectors

    vecs = load_word_vectors()
    words = [w for w in dict.fromkeys(vector_words(default_vectors_path())) if vecs.vector(w) is not None]
    matrix = np.stack([vecs.vector(w) for w in words]).astype(np.float32)
    return WordEmbedding(matrix, {w: i for i, w in enumerate(words)}, dict(enumerate(words)))


_CACHE: dict[str, Any] = {}


def textfooler_constraints() -> list[Any]:
    """TextFooler's constraints (Jin et al. 2019, TextAttack's recipe), offline: our GloVe vectors instead of
    the counter-fitted ones, all-MiniLM-L6-v2 (TextAttack ``SBERT`` on the packaged, sha256-checked weights)
    instead of USE, with the recipe's angular threshold and window."""
    if "tf" not in _CACHE:
        import tempfile
        from pathlib import Path

        from textattack.constraints.grammaticality import PartOfSpeech
        from textattack.constraints.semantics import WordEmbeddingDistance
        from textattack.constraints.semantics.sentence_encoders import SBERT

        from audit.attack.sentence import _model_dir, load_encoder

        load_encoder()  # extracts and verifies the weights
        folder = _model_dir(Path(tempfile.gettempdir()) / "reat-audit-models")
        sbert = SBERT(threshold=0.840845057, metric="angular", compare_against_original=False, window_size=15,
                      skip_text_shorter_than_window=True, model_name=str(folder))
        _CACHE["tf"] = [WordEmbeddingDistance(embedding=_glove_embedding(), min_cos_sim=0.5),
                        PartOfSpeech(allow_verb_noun_swap=True), sbert]
    return list(_CACHE["tf"])


def build_attack(model: AuditModel, swap: Transformation, filters: Sequence[Constraint], *, max_words: int | None,
                 search: str) -> Attack:
    """PWWS (Ren et al. 2019: weighted-saliency WIR) or TextFooler-style (WIR "delete" with TextFooler's
    constraints), as TextAttack's recipes build them, on our candidate set."""
    goal = UntargetedClassification(AuditModelWrapper(model))
    constraints: list[Any] = [RepeatModification(), StopwordModification(stopwords=set(_nlp.stopwords()))]
    if max_words is not None:
        constraints.append(MaxWordsPerturbed(max_num_words=max_words))
    if search == "pwws":
        method = GreedyWordSwapWIR("weighted-saliency", unk_token="<unk>")
    elif search == "textfooler":
        constraints += textfooler_constraints()
        method = GreedyWordSwapWIR("delete", unk_token="<unk>")
    else:
        raise ValueError(f"unknown search {search!r}")
    return Attack(goal, constraints, SameCandidates(swap, filters), method)


def run_attack(attack: Attack, text: str, label: int) -> dict[str, Any]:
    """Attack one text; returns success, queries, variant tokens."""
    result = attack.attack(text, label)
    perturbed = result.perturbed_result.attacked_text.text
    return {
        "succeeded": isinstance(result, textattack.attack_results.SuccessfulAttackResult),
        "skipped": isinstance(result, textattack.attack_results.SkippedAttackResult),
        "queries": int(result.perturbed_result.num_queries),
        "variant": perturbed.split(),
    }
