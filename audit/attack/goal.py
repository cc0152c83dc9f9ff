"""Goal functions: when an attack has succeeded."""

from __future__ import annotations

from collections.abc import Sequence


class UntargetedClassification:
    """Succeed when the predicted class differs from the original prediction.

    By default only texts the model classifies correctly are attacked
    (``attack_misclassified=True`` attacks every text).
    """

    name = "untargeted_classification"

    def __init__(self, *, attack_misclassified: bool = False) -> None:
        self.attack_misclassified = attack_misclassified

    def should_attack(self, pred: int, gold: int | None) -> bool:
        """Whether a text predicted ``pred`` with gold label ``gold`` is attacked."""
        return self.attack_misclassified or gold is None or pred == gold

    @staticmethod
    def is_success(original_pred: int, probs: Sequence[float]) -> bool:
        return argmax(probs) != original_pred

    @staticmethod
    def score(original_pred: int, probs: Sequence[float]) -> float:
        """Higher is better for the attacker: ``1 - p(original class)``."""
        return 1.0 - float(probs[original_pred])


def argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))
