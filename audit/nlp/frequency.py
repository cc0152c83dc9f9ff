"""Word frequency on the Zipf scale (``wordfreq``, offline data in the wheel).

Zipf = log10(frequency per billion words): 7 for "the", 5 for "film", 3 for "sieve",
below 2 for "passel".  Lower-cased look-ups, cached.
"""

from __future__ import annotations

from functools import lru_cache

from audit.errors import ResourceMissingError


@lru_cache(maxsize=131072)
def zipf(word: str) -> float:
    """Zipf frequency of ``word`` in English (0.0 when wordfreq has never seen it)."""
    try:
        from wordfreq import zipf_frequency
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ResourceMissingError("the wordfreq package is not installed", hint="pip install wordfreq") from exc
    return float(zipf_frequency(word.lower(), "en"))
