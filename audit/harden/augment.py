"""The training data ``audit harden`` adds: counterfactual copies and adversarial variants.

Only *training* texts are ever augmented (the caller passes the training split); dev and test
data are never touched.  Every function is deterministic for a given ``seed``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from audit.data.vocab import UNK
from audit.harden.config import AdversarialStrategy, CounterfactualStrategy
from audit.models.base import AuditModel, RecurrentClassifier

log = logging.getLogger(__name__)


@dataclass
class Augmentation:
    """Added training examples, with a per-strategy count for the report."""

    tokens: list[list[str]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def extend(self, other: Augmentation) -> None:
        self.tokens += other.tokens
        self.labels += other.labels
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v


def counterfactual_examples(
    tokens: Sequence[Sequence[str]], labels: Sequence[int], drivers: Sequence[str], *,
    strategy: CounterfactualStrategy, seed: int,
) -> Augmentation:
    """Copies of the texts that contain a driver, without it; plus, with ``balance``, insertions.

    For driver ``w`` found in ``n_y`` texts of label ``y``: each such text is added with ``w``
    removed (or replaced by ``<unk>``), keeping its label; with ``balance``, ``w`` is inserted
    into texts of each other label until every label has as many texts with ``w`` as the most
    frequent one.  Texts that would become empty are skipped.
    """
    rng = random.Random(seed)
    out = Augmentation()
    label_set = sorted({int(y) for y in labels})
    for word in drivers:
        having = [i for i, t in enumerate(tokens) if word in t]
        if not having:
            continue
        if strategy.max_copies is not None:
            having = having[: strategy.max_copies]
        added = 0
        for i in having:
            copy = [x for x in tokens[i] if x != word] if strategy.mode == "remove" else \
                [UNK if x == word else x for x in tokens[i]]
            if copy:
                out.tokens.append(copy)
                out.labels.append(int(labels[i]))
                added += 1
        out.counts["counterfactual_copies"] = out.counts.get("counterfactual_copies", 0) + added
        if not strategy.balance:
            continue
        per_label = {y: sum(1 for i in having if int(labels[i]) == y) for y in label_set}
        target = max(per_label.values())
        inserted = 0
        for y in label_set:
            need = target - per_label[y]
            pool = [i for i, lab in enumerate(labels) if int(lab) == y and word not in tokens[i]]
            rng.shuffle(pool)
            for i in pool[:need]:
                text = list(tokens[i])
                text.insert(rng.randrange(len(text) + 1), word)
                out.tokens.append(text)
                out.labels.append(y)
                inserted += 1
        out.counts["counterfactual_insertions"] = out.counts.get("counterfactual_insertions", 0) + inserted
    return out


def adversarial_examples(
    model: AuditModel, tokens: Sequence[Sequence[str]], labels: Sequence[int], *, strategy: AdversarialStrategy,
    attack_config: Any, priority_words: Sequence[str] = (), seed: int,
) -> Augmentation:
    """Strict-valid attack variants of correctly classified training texts, with the original label.

    ``attack_config`` is the attack library's config (the nightly config's ``attack`` block, so
    the same recipe and checks apply).  Texts containing a ``priority_words`` word are attacked
    first, then the rest in a seeded random order, up to ``fraction`` of the texts (and
    ``max_texts``).  Which variants are kept: :func:`usable_variant` (``strategy.keep``).
    """
    from audit.attack import ReatWordNetAttack

    n_target = max(1, round(strategy.fraction * len(tokens)))
    if strategy.max_texts is not None:
        n_target = min(n_target, strategy.max_texts)
    rng = random.Random(seed)
    order = list(range(len(tokens)))
    rng.shuffle(order)
    prio = set(priority_words)
    order.sort(key=lambda i: 0 if prio.intersection(tokens[i]) else 1)  # stable: keeps the shuffle within groups
    preds = _predict(model, [tokens[i] for i in order])
    attack = ReatWordNetAttack(attack_config)
    out = Augmentation(counts={"adversarial_attacked": 0, "adversarial_variants": 0, "adversarial_flipped": 0,
                               "adversarial_unflipped": 0})
    with torch.random.fork_rng():  # seeded here without touching the caller's global RNG
        torch.manual_seed(seed)
        _attack_in_order(model, tokens, labels, order, preds, attack, n_target, out, strategy)
    log.info("adversarial: %d training texts attacked, %d variants kept (%d flipped, %d unflipped)",
             out.counts["adversarial_attacked"], out.counts["adversarial_variants"], out.counts["adversarial_flipped"],
             out.counts["adversarial_unflipped"])
    return out


def _attack_in_order(model: AuditModel, tokens: Sequence[Sequence[str]], labels: Sequence[int], order: list[int],
                     preds: list[int], attack: Any, n_target: int, out: Augmentation,
                     strategy: AdversarialStrategy) -> None:
    for i, pred in zip(order, preds, strict=True):
        if out.counts["adversarial_attacked"] >= n_target:
            break
        if pred != int(labels[i]):
            continue  # attacks start only from correctly classified texts
        out.counts["adversarial_attacked"] += 1
        result = attack.attack(model, list(tokens[i]), gold=int(labels[i]))
        kind = usable_variant(result, keep=strategy.keep, min_drop=strategy.min_drop)
        if kind is not None:
            out.tokens.append(list(result.variant))
            out.labels.append(int(labels[i]))
            out.counts["adversarial_variants"] += 1
            out.counts[f"adversarial_{kind}"] += 1


def usable_variant(result: Any, *, keep: str = "successful", min_drop: float = 0.0) -> str | None:
    """``"flipped"``, ``"unflipped"`` or ``None``: whether an attack result is a training variant.

    Every kept variant has at least one swap and passed the recipe's strict checks (``valid`` when
    the recipe reports it, else no meaning flag).  ``flipped``: a verified flip.  ``unflipped``
    (only with ``keep="best"``): no flip, but the swaps lowered the probability of the label the
    attack started from (the gold label: attacks start from correct predictions) by more than
    ``min_drop`` -- adversarial in direction, still label-preserving.
    """
    if not result.swaps or list(result.variant) == list(result.original):
        return None
    valid = getattr(result, "valid", None)
    if not (bool(valid) if valid is not None else not result.meaning_flags):
        return None
    if result.flipped:
        return "flipped" if result.verified else None
    if keep != "best":
        return None
    start = int(result.pred_before)
    drop = float(result.probs_before[start]) - float(result.probs_after[start])
    return "unflipped" if drop > min_drop else None


def _predict(model: AuditModel, token_lists: Sequence[Sequence[str]], *, batch: int = 256) -> list[int]:
    preds: list[int] = []
    for start in range(0, len(token_lists), batch):
        probs = model.predict_proba_tokens([list(t) for t in token_lists[start : start + batch]])
        preds += [int(p) for p in torch.as_tensor(probs).argmax(-1).tolist()]
    return preds


def reat_mass_term(driver_ids: Sequence[int], weight: float) -> Any:
    """The regulariser: ``weight * mean_b sum_{t: id in drivers} sum_c S(x_t)_c^2``, REAT scores
    computed with gradients (:func:`audit.attribution._reat_autograd.reat_scores_differentiable`)."""
    from audit.attribution import reat_scores_differentiable

    ids_t = torch.tensor(sorted({int(i) for i in driver_ids}), dtype=torch.long)

    def term(module: RecurrentClassifier, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = torch.isin(ids, ids_t)
        if not bool(mask.any()):
            return ids.new_zeros((), dtype=torch.float32)
        rows = mask.any(1)
        scores = reat_scores_differentiable(module.rnn, module.head, module.embedding(ids[rows]), lengths[rows])
        mass = (scores.pow(2).sum(-1) * mask[rows].to(scores.dtype)).sum()
        return weight * mass / ids.shape[0]

    return term


def insert_drivers(token_lists: Sequence[Sequence[str]], drivers: Sequence[str], *, seed: int) -> list[list[str]]:
    """Every text once per driver, with the driver inserted at a seeded random position (texts that
    already contain it are left out): the probe of :func:`driver_reliance`."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    for word in drivers:
        for toks in token_lists:
            if word in toks:
                continue
            text = list(toks)
            text.insert(rng.randrange(len(text) + 1), word)
            out.append(text)
    return out


def driver_reliance(model: AuditModel, token_lists: Sequence[Sequence[str]], drivers: Sequence[str], *,
                    seed: int) -> dict[str, float]:
    """How much ``model`` relies on ``drivers`` on these (dev) texts.

    ``flip_rate``: the share of texts whose prediction changes when a driver is inserted (a model
    that ignores the driver scores 0); ``reat_mass``: :func:`reat_mass` on the inserted texts.
    """
    originals: list[list[str]] = []
    for word in drivers:
        originals += [list(t) for t in token_lists if word not in t]
    inserted = insert_drivers(token_lists, drivers, seed=seed)
    if not inserted:
        return {"flip_rate": 0.0, "reat_mass": 0.0, "n_texts": 0}
    before, after = _predict(model, originals), _predict(model, inserted)
    flips = sum(a != b for a, b in zip(before, after, strict=True))
    return {"flip_rate": flips / len(inserted), "reat_mass": reat_mass(model, inserted, drivers),
            "n_texts": len(inserted)}


def reat_mass(model: AuditModel, token_lists: Sequence[Sequence[str]], drivers: Sequence[str]) -> float:
    """Mean over texts of the drivers' summed absolute REAT score (all classes): how much the model
    still credits them (used to pick the regulariser's weight on dev)."""
    from audit.attribution import reat_scores

    wanted = set(drivers)
    rows = [list(t) for t in token_lists if wanted.intersection(t)]
    if not rows:
        return 0.0
    total = 0.0
    for start in range(0, len(rows), 256):
        chunk = rows[start : start + 256]
        enc = model.encode_tokens(chunk)
        scores = reat_scores(model.rnn, model.head, model.embedding(enc.ids).detach(), enc.lengths)
        for b, toks in enumerate(chunk):
            for t, tok in enumerate(toks[: scores.shape[1]]):
                if tok in wanted:
                    total += float(scores[b, t].abs().sum())
    return total / len(rows)
