"""NLTK's WordNet reader, built without the two costs of ``nltk.corpus.wordnet`` that reat-audit does not need.

``nltk.corpus.wordnet`` (NLTK 3.10) spends most of its load, about 5 of 7 s, on two things:

* ``map_wn()``: a WordNet 3.0 -> loaded-version synset map for the multilingual (OMW) data.  It compares
  ``get_version()`` ("3.0") with the *corpus name* ("wordnet"), never equal, so it reads ``index.sense``
  twice and maps WordNet 3.0 onto itself.  Nothing here uses OMW: :class:`FastWordNetReader` skips it
  (``map30`` stays ``None``, which is what NLTK sets when the versions match).
* reading the index, exception and lexname files line by line through NLTK's seekable UTF-8 stream
  reader.  Those files are only read front to back, once: they are decoded in one go instead.
  The ``data.*`` files and ``cntlist.rev``, which NLTK seeks in by byte offset, keep NLTK's reader.

The lemma index, exception map and satellite offsets are those of the stock reader
(``tests/test_wordnet_reader.py`` compares them).  Every caller goes through
:func:`audit.nlp.wordnet._wordnet`, which builds one reader per process.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from nltk.corpus.reader.wordnet import WordNetCorpusReader

_READ_WHOLE_PREFIXES = ("index.", "lexnames")
_READ_WHOLE_SUFFIXES = (".exc",)


class FastWordNetReader(WordNetCorpusReader):  # type: ignore[misc]  # NLTK is untyped
    """A :class:`WordNetCorpusReader` without the OMW version map; sequentially read files decoded whole."""

    def map_wn(self, version: str = "wordnet") -> None:
        return None  # OMW is not used (see the module docstring)

    def open(self, fileid: str) -> Any:
        if fileid.startswith(_READ_WHOLE_PREFIXES) or fileid.endswith(_READ_WHOLE_SUFFIXES):
            with self._root.join(fileid).open() as stream:  # binary: no encoding given
                return io.StringIO(stream.read().decode(self._ENCODING))
        return super().open(fileid)


def load_reader() -> FastWordNetReader:
    """The reader of the ``wordnet`` corpus NLTK finds (a folder or ``wordnet.zip``); LookupError if none."""
    import nltk

    try:
        root = nltk.data.find("corpora/wordnet")
    except LookupError:
        root = nltk.data.find("corpora/wordnet.zip/wordnet/")
    with warnings.catch_warnings():  # "multilingual functions are not available": OMW is not used
        warnings.simplefilter("ignore", UserWarning)
        return FastWordNetReader(root, None)
