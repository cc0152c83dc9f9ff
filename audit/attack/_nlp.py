"""The NLTK pieces the attack needs, loaded lazily through ``audit.nlp``.

POS tags come from :mod:`audit.nlp.pos`, data checks from
:func:`audit.nlp.resources.ensure` (which raises ``ResourceMissingError``
naming ``audit data fetch``).  The stopword list and opinion lexicon are
cached after the first load.
"""

from __future__ import annotations

from collections.abc import Sequence

from audit.nlp import pos
from audit.nlp.lexicons import opinion_lexicon, stopwords

__all__ = ["opinion_lexicon", "stopwords", "tag", "universal"]


def tag(tokens: Sequence[str]) -> list[str]:
    """PTB tags for ``tokens``."""
    return list(pos.tag(list(tokens))) if tokens else []


def universal(ptb_tag: str) -> str:
    """Universal tag for a PTB tag."""
    return str(pos.universal(ptb_tag))
