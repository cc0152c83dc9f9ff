"""The paper's evaluation (Du et al., WWW'19, section 4) as a library.

``run_evaluation(config_path, out_dir=...)`` (``audit evaluate``) runs every section and
writes the report; the metric modules are pure and usable on their own:

* :mod:`~audit.evaluation.faithfulness` -- Eq. 23 ("but" texts, delete the top clause),
* :mod:`~audit.evaluation.interpretability` -- Eq. 24 (opinion-lexicon texts, match rate),
* :mod:`~audit.evaluation.patterns` -- section 4.7 (POS score distributions, Fig. 7),
* :mod:`~audit.evaluation.misbehaviour` -- section 4.8 (word scores, failures, substitutions),
* :mod:`~audit.evaluation.hierarchical` -- the Fig. 6 example,
* :mod:`~audit.evaluation.charts` -- Altair builders; :mod:`~audit.evaluation.report` / ``markdown`` -- output.
"""

from __future__ import annotations

from typing import Any


def run_evaluation(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`audit.evaluation.runner.run_evaluation` (imported lazily: it pulls in torch)."""
    from audit.evaluation.runner import run_evaluation as _run

    return _run(*args, **kwargs)


__all__ = ["run_evaluation"]
