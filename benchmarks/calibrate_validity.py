"""Labelled validity set for single-word swaps, and calibration of the strict recipe's thresholds.

Three sub-commands, run from the repository root with ``AUDIT_DATA_DIR`` and ``NLTK_DATA`` set:

``generate``
    Draws (original, variant) pairs from SST-2 **train and dev only** (never test) with a
    fixed seed and writes the unjudged pairs to ``benchmarks/data/validity_pairs_unjudged.jsonl``.
    ``--origin loose`` draws from today's loose WordNet candidate generator
    (:class:`audit.attack.transformation.WordNetSwap`, vocabulary = the GloVe subset, with the
    loose recipe's stopword / entity / POS-match constraints): half of the positions get a
    uniformly random candidate (``loose_random``), half the candidate closest to the original in
    GloVe (``loose_stratified``), so that both plausible and implausible swaps are well
    represented.  ``--origin strict`` draws from the strict recipe's blocking checks (helper
    "attack"'s API) on further sentences, stratified into accepted and rejected candidates.
    Every source sentence gives at most one pair, and the calibration / held-out split is a
    seeded hash of the source sentence (``source:line``).
``features``
    Adds the strict recipe's per-check evidence to every judged pair (``benchmarks/data/validity_features.jsonl``).
``calibrate``
    Chooses thresholds on the calibration half only and reports precision / recall of the
    strict filter on the held-out half (``reports/benchmarks/validity.{json,md}``).

The judgments in ``benchmarks/data/validity_pairs.jsonl`` were made by reading every pair,
following ``benchmarks/data/validity_guideline.md``; this script never writes them.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
PAIRS = DATA / "validity_pairs.jsonl"
UNJUDGED = DATA / "validity_pairs_unjudged.jsonl"
SPLIT_SEED = "validity-split-2026-12-01"
CONTENT_TAGS = ("NN", "VB", "JJ", "RB")


def split_of(source: str, line: int) -> str:
    """Calibration or held-out, fixed by the source sentence (seeded hash, about half each)."""
    digest = hashlib.sha256(f"{SPLIT_SEED}:{source}:{line}".encode()).digest()
    return "calibration" if digest[0] % 2 == 0 else "heldout"


def read_sst(source: str) -> list[tuple[int, int, list[str]]]:
    """``(line number (header = 1), label, tokens)`` of SST-2 train or dev; test is refused."""
    if source not in ("train", "dev"):
        raise SystemExit(f"refusing to read SST-2 {source!r}: the validity set uses train and dev only")
    from audit.settings import data_dir

    path = data_dir() / "sst2" / f"{source}.tsv"
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if lineno == 1:
            continue
        label, text = line.split("\t", 1)
        out.append((lineno, int(label), text.split()))
    return out


def load_glove() -> dict[str, np.ndarray]:
    from audit.settings import data_dir

    vecs: dict[str, np.ndarray] = {}
    with gzip.open(data_dir() / "embeddings" / "glove.6B.50d.subset.txt.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip().split(" ")
            if len(parts) == 51:
                vecs[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
    return vecs


def cosine(vecs: dict[str, np.ndarray], a: str, b: str) -> float | None:
    va, vb = vecs.get(a), vecs.get(b)
    if va is None or vb is None:
        return None
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-12))


def used_sentences() -> set[tuple[str, int]]:
    used: set[tuple[str, int]] = set()
    for path in (PAIRS, UNJUDGED):
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    rec = json.loads(line)
                    used.add((rec["source"], rec["line"]))
    return used


def loose_candidates(tokens: list[str], tags: list[str], vocab: set[str]) -> dict[int, list[str]]:
    """Position -> candidates of the loose recipe (WordNet swap + stopword/entity/POS-match)."""
    from audit.attack.constraints import (
        EntityConstraint,
        PosMatchConstraint,
        StopwordConstraint,
        SwapContext,
        apply_filters,
    )
    from audit.attack.transformation import WordNetSwap

    swap = WordNetSwap(vocab=vocab, max_candidates=30)
    filters = [StopwordConstraint(), EntityConstraint(), PosMatchConstraint()]
    out: dict[int, list[str]] = {}
    for i, tag in enumerate(tags):
        if not tag.startswith(CONTENT_TAGS) or not tokens[i].isalpha():
            continue
        ctx = SwapContext(tokens=tuple(tokens), tags=tuple(tags), position=i)
        if not all(f.allows_position(ctx) for f in filters):
            continue
        cands = apply_filters(ctx, swap.candidates(tokens, tags, i), filters)
        if cands:
            out[i] = cands
    return out


def record(source: str, line: int, label: int, tokens: list[str], pos: int, sub: str, tag: str, origin: str,
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from audit.attack.edit import apply_swap

    variant = apply_swap(tokens, pos, sub)  # as the search sends it: a/an adjusted (from round 5; before, not)
    rec = {
        "id": f"{source}-{line}-{pos}-{sub}", "split": split_of(source, line), "source": source, "line": line,
        "label": label, "tokens": tokens, "position": pos, "original": tokens[pos], "substitute": sub,
        "variant": " ".join(variant), "pos": tag, "origin": origin,
    }
    rec.update(extra or {})
    return rec


def _proxy_pick(tokens: list[str], tags: list[str], pos: int, options: list[str], vecs: dict[str, np.ndarray]) -> str | None:
    """A loose candidate a strict filter would probably accept: top WordNet sense, not much rarer, closest in GloVe."""
    from wordfreq import zipf_frequency

    from audit.nlp import wordnet

    senses = dict(wordnet.synonym_senses(tokens[pos].lower(), tags[pos]))
    z0 = zipf_frequency(tokens[pos], "en")
    good = []
    for c in options:
        ranks = [senses[b] for b in wordnet.lemmas(c, tags[pos]) + [c] if b in senses]
        if ranks and min(ranks) == 0 and zipf_frequency(c, "en") >= min(z0 - 1.0, 4.0):
            good.append(c)
    if not good:
        return None
    return max(good, key=lambda c: cosine(vecs, tokens[pos], c) or -1.0)


def generate_loose(n: int, seed: int, *, stratum: str = "mixed") -> list[dict[str, Any]]:
    """``stratum``: ``mixed`` alternates random / GloVe-closest candidates; ``proxy`` picks with :func:`_proxy_pick`."""
    from audit.attack import _nlp

    rng = random.Random(seed)
    vecs = load_glove()
    vocab = set(vecs)
    sentences = [("train", *r) for r in read_sst("train")] + [("dev", *r) for r in read_sst("dev")]
    rng.shuffle(sentences)
    used = used_sentences()
    out: list[dict[str, Any]] = []
    for source, line, label, tokens in sentences:
        if len(out) >= n:
            break
        if (source, line) in used or not 4 <= len(tokens) <= 40:
            continue
        tags = _nlp.tag(tokens)
        cands = loose_candidates(tokens, tags, vocab)
        if not cands:
            continue
        pos = rng.choice(sorted(cands))
        options = cands[pos]
        if stratum == "proxy":
            pick = _proxy_pick(tokens, tags, pos, options, vecs)
            if pick is None:
                continue
            out.append(record(source, line, label, tokens, pos, pick, tags[pos], "loose_stratified", {"stratum": "proxy_strict"}))
            continue
        if len(out) % 2 == 0:
            sub, origin = rng.choice(options), "loose_random"
        else:
            sims = [cosine(vecs, tokens[pos], c) or -1.0 for c in options]
            sub, origin = options[int(np.argmax(sims))], "loose_stratified"
        out.append(record(source, line, label, tokens, pos, sub, tags[pos], origin))
    return out


FEATURES = DATA / "validity_features.jsonl"
PRIOR_WEIGHTS = (0.0, 0.1, 0.3, 1.0, 3.0)
"""Sense-prior weights the features are computed for (the sense chosen in context depends on it)."""
PERMISSIVE = [
    {"name": "naturalness", "max_zipf_drop": 8.0, "min_zipf": 0.0},
    {"name": "closeness", "min_cosine": -1.0},
    {"name": "sentiment", "max_shift": 2.0},
    {"name": "context_meaning", "min_cosine": -1.0},
    {"name": "context_token", "min_cosine": -1.0},
]
"""Thresholds that let every value through, so the raw values of each check are recorded."""


def context_token_features(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The opt-in ``context_token`` check's evidence per pair (as :func:`pair_features` records it), for
    pairs whose cached features predate the check."""
    from audit.attack.constraints import SwapContext
    from audit.attack.sentence import ContextTokenCheck

    check = ContextTokenCheck(min_cosine=-1.0)
    out = []
    for rec in recs:
        toks = tuple(rec["tokens"])
        r = check.evaluate(SwapContext(tokens=toks, tags=("",) * len(toks), position=rec["position"]), rec["substitute"])
        out.append(_jsonable(r.to_dict() | {"detail": r.detail}))
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def pair_features(recs: list[dict[str, Any]], *, with_encoder: bool) -> list[dict[str, Any]]:
    """Per pair: each strict check's verdict and raw value, under permissive thresholds."""
    from audit.attack import _nlp
    from audit.attack.validity import strict_validator

    from audit.attack.constraints import SwapContext
    from audit.attack.strict import SenseCheck
    from audit.nlp.senses import substitute_share

    sense_spec = {"name": "sense", "min_substitute_share": 0.0, "min_sense_prior": 0.0}
    validators = {w: strict_validator(constraints=[*PERMISSIVE, sense_spec | {"prior_weight": w}]) for w in PRIOR_WEIGHTS}
    encoder = None
    if with_encoder:
        from audit.attack.sentence import load_encoder

        encoder = load_encoder()
    out = []
    for rec in recs:
        tokens = rec["tokens"]
        tags = _nlp.tag(tokens)
        feats: dict[str, Any] = {"id": rec["id"]}
        for w, validator in validators.items():
            ev = validator.swap(tokens, rec["position"], rec["substitute"], tags=tags)
            if w == PRIOR_WEIGHTS[0]:
                for name, r in ev.checks.items():
                    if name != "sense":
                        feats[name] = _jsonable(r.to_dict() | {"detail": r.detail})
                feats["cosine"] = ev.cosine
                feats["zipf_original"] = ev.zipf_original
                feats["zipf_substitute"] = ev.zipf_substitute
                feats["declared"] = ev.declared
            sense = ev.checks["sense"]
            check = next(c for c in validator.checks if isinstance(c, SenseCheck))
            choice = check.choice(SwapContext(tokens=tuple(tokens), tags=tuple(tags), position=rec["position"]))
            synset = sense.value if isinstance(sense.value, str) else None
            feats[f"sense@{w}"] = {
                "passed": sense.passed, "synset": sense.value,
                # the sense's share of the substitute's / the original's own SemCor use (thresholded in calibration)
                "substitute_share": substitute_share(rec["substitute"], tags[rec["position"]], synset) if synset else None,
                "sense_prior": choice.prior if choice is not None else None,
            }
        if encoder is not None:
            a, b = encoder.encode([" ".join(tokens), rec["variant"]], normalize_embeddings=True)
            feats["sentence_cosine"] = float(np.dot(a, b))
        out.append(feats)
    return out


# ---------------------------------------------------------------- calibration

GRID: dict[str, tuple[float, ...]] = {
    "prior_weight": (0.0, 0.1, 0.3, 1.0),
    "min_substitute_share": (0.0, 0.05, 0.1),
    "min_sense_prior": (0.0, 0.2, 0.4, 0.5),
    "min_cosine": (-1.0, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8),
    "max_zipf_drop": (1.0, 1.5, 2.0, 8.0),
    "min_zipf": (0.0,),
    "max_shift": (0.1, 0.15, 0.2, 0.3, 2.0),
    "context_min_cosine": (-1.0, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96),
}
"""Candidate thresholds (-1 / 0 / 8 mean "no threshold")."""
MIN_PRECISION = 0.93
"""Calibration target: at least 93% of the accepted calibration pairs valid; among the settings that reach
it, the one with the best recall.  The goal is 90% on held-out pairs; the margin comes from a 5-fold
cross-validation on the calibration pairs (:func:`cross_validate`, in the report): choosing at a 0.90 target
gave 84% on the left-out folds, at 0.93 about 92%."""
ROUND = 8
"""The held-out round: its pairs were drawn with the shipped strict recipe; every earlier round is calibration data."""
HELDOUT = f"heldout{ROUND}"
"""The held-out split.  Round 8 (stop 24): round 7's misses were read to design the object rules of ``frame``
("said that" -> "told that"), "nearly" before a negation in ``licensing``, plural possessives in ``morphology``
("children 's" -> "kids 's"), titles in ``names`` ("writer john ridley", "spy kids 2") and movie-review terms
and idioms in ``mwe`` ("film language", "go to the movies", "the very fabric"), so all 1350 pairs of rounds 1-7
are calibration data; round 8's pairs (``split: heldout8``) are drawn from unused sentences with the shipped
strict recipe and judged blind.  Round 7 (stop 23): round 6's misses were read to design the ``licensing`` check (no
negative-polarity "ever" for "always") and the negators and focus particles of ``scope`` ("hardly" -> "barely",
"simply" -> "merely"), so all 1210 pairs of rounds 1-6 are calibration data; round 7's pairs (``split:
heldout7``) are drawn from unused sentences with the shipped strict recipe and judged blind.  Round 6 (stop 23): round 5's misses were read to design the ``frame`` check (a verb
keeps its complement construction: "lets ... to", "appear like", "leaps around"), the quantifiers of ``scope``
and the count determiners of the mass-noun rule ("every laughter"), so all 1070 pairs of rounds 1-5 are
calibration data; round 6's pairs (``split: heldout6``) are drawn from unused sentences with the shipped
strict recipe and judged blind.  Round 5 (stop 21): round 4's misses were read to design two morphology rules (an -ing
noun stays -ing; no mass noun after a/an) and the multi-word function words of ``mwe``, so all 930 pairs of
rounds 1-4 are calibration data; round 5's pairs (``split: heldout5``) are drawn from unused sentences with
the shipped strict recipe (``context_token`` included) and judged blind.  Round 4: all 790 judged pairs of rounds 1-3 are calibration data (round 3's were read
to calibrate the opt-in ``context_token`` check, ``context-token``); round 4's pairs (``split: heldout4``) are
drawn from unused sentences with the shipped strict recipe (without ``context_token``) and are to be judged
blind; until they are, ``calibrate`` has no held-out pairs.  Round 3 (stop 19): round 2's held-out misses were read to design the ``scope`` check,
the negated-auxiliary tagger fix and four fixed expressions, so round 2 is calibration data now; round 3's
pairs (``split: heldout3``) are drawn from unused sentences with the code's thresholds (round 2's) and judged
blind.  Round 1 (450 pairs, stops 16-17) was split into halves by a seeded hash; its held-out
half's errors were read when the checks of round 2 were designed (the context check, the substitute-share
grid, the 'would rather' / 'ca n't help' expressions), so it is calibration data now, and round 2's held-out
pairs (``split: heldout2``) were drawn afterwards from sentences no earlier pair used, with the round-2
thresholds fixed, and judged blind to the filter's verdict."""
REPORTS = ROOT / "reports" / "benchmarks"
SENTENCE_GRID = (0.8, 0.85, 0.9, 0.93, 0.95, 0.97)
SENTENCE_RECALL_KEPT = 0.8
"""The optional sentence-encoder check is calibrated on top of the others: it may cost at most a fifth
of the chosen setting's calibration recall."""


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95 % by default); (0, 1) when n = 0."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def load_judged() -> list[dict[str, Any]]:
    """Judged pairs joined with their features (``validity_features.jsonl``)."""
    recs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    feats = {}
    for line in FEATURES.read_text(encoding="utf-8").splitlines():
        if line.strip():
            f = json.loads(line)
            feats[f["id"]] = f
    missing = [r["id"] for r in recs if r["id"] not in feats]
    if missing:
        raise SystemExit(f"{len(missing)} pairs have no features (first: {missing[0]}); run `features` first")
    return [r | {"features": feats[r["id"]]} for r in recs]


def truth(rec: dict[str, Any]) -> bool:
    """The judgment that applies to what the strict recipe would produce: when it adjusts a/an
    before the substitute, the pair's judgment of the adjusted variant (``valid_after_article_fix``)."""
    morph = rec["features"].get("morphology", {})
    if "article" in str(morph.get("value", "")) and "valid_after_article_fix" in rec:
        return bool(rec["valid_after_article_fix"])
    return bool(rec["valid"])


def columns(recs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per-pair arrays of the raw check values."""
    f = [r["features"] for r in recs]

    def passed(name: str) -> np.ndarray:
        return np.array([bool(x[name]["passed"]) for x in f])

    def passed_or_true(name: str) -> np.ndarray:  # a check newer than some pairs' features
        missing = [r["id"] for r, x in zip(recs, f) if name not in x]
        if missing:
            raise SystemExit(f"{len(missing)} pairs have no {name} feature (first: {missing[0]}): re-run `features --all`")
        return passed(name)

    def polar_shift(x: dict[str, Any]) -> float:
        v = x["sentiment"]["value"]
        c = v.get("shift") if isinstance(v, dict) else None
        return 0.0 if c is None else abs(float(c))  # no shift: failed earlier (polarity, antonym, no vector)

    cols = {
        "valid": np.array([truth(r) for r in recs]),
        "heldout": np.array([r["split"] == HELDOUT for r in recs]),
        "mwe": passed("mwe"), "names": passed("names"), "scope": passed("scope"), "morphology": passed("morphology"),
        "pos_kept": passed("pos_kept"), "frame": passed_or_true("frame"),
        "licensing": passed_or_true("licensing"),
        "archaic_ok": passed("naturalness"), "sentiment_ok": passed("sentiment"),
        "cosine": np.array([-2.0 if x["cosine"] is None else float(x["cosine"]) for x in f]),
        "zipf_sub": np.array([float(x["zipf_substitute"] or 0.0) for x in f]),
        "zipf_drop": np.array([float((x["zipf_original"] or 0.0) - (x["zipf_substitute"] or 0.0)) for x in f]),
        "polar_shift": np.array([polar_shift(x) for x in f]),
    }
    for w in PRIOR_WEIGHTS:
        cols[f"sense@{w}"] = np.array([bool(x[f"sense@{w}"]["passed"]) for x in f])
        # no SemCor share known (no WordNet sense for the POS): the share thresholds do not apply
        cols[f"substitute_share@{w}"] = np.array([
            1.0 if x[f"sense@{w}"].get("substitute_share") is None else float(x[f"sense@{w}"]["substitute_share"]) for x in f])
        cols[f"sense_prior@{w}"] = np.array([
            1.0 if x[f"sense@{w}"].get("sense_prior") is None else float(x[f"sense@{w}"]["sense_prior"]) for x in f])
    if all("sentence_cosine" in x for x in f):
        cols["sentence_cosine"] = np.array([float(x["sentence_cosine"]) for x in f])
    missing = [r["id"] for r, x in zip(recs, f) if "context_meaning" not in x]
    if missing:
        raise SystemExit(f"{len(missing)} pairs have no context_meaning feature (first: {missing[0]}): "
                         "install the [meaning] extra and re-run `features`")
    cols["context_cosine"] = np.array([float(x["context_meaning"]["value"]) for x in f])
    if all("context_token" in x for x in f):
        cols["context_token"] = context_token_values(recs)
    return cols


CHECKS = ("mwe", "names", "scope", "sense", "morphology", "frame", "licensing", "naturalness", "closeness", "sentiment", "pos_kept",
          "context_meaning", "context_token")


def check_masks(cols: dict[str, np.ndarray], th: dict[str, float]) -> dict[str, np.ndarray]:
    """Each strict check's pass mask under thresholds ``th``."""
    masks = {
        "mwe": cols["mwe"], "names": cols["names"], "scope": cols["scope"], "morphology": cols["morphology"],
        "frame": cols["frame"], "licensing": cols["licensing"],
        "sense": (cols[f"sense@{th['prior_weight']}"]
                  & (cols[f"substitute_share@{th['prior_weight']}"] >= th["min_substitute_share"] - 1e-9)
                  & (cols[f"sense_prior@{th['prior_weight']}"] >= th["min_sense_prior"] - 1e-9)),
        "naturalness": cols["archaic_ok"] & (cols["zipf_sub"] >= th["min_zipf"]) & (cols["zipf_drop"] <= th["max_zipf_drop"]),
        "closeness": cols["cosine"] >= th["min_cosine"],
        "sentiment": cols["sentiment_ok"] & (cols["polar_shift"] <= th["max_shift"]),
        "pos_kept": cols["pos_kept"],
        "context_meaning": cols["context_cosine"] >= th["context_min_cosine"] - 1e-9,
    }
    if "context_token_min_cosine" in th:  # in the strict recipe since round 4; not part of the grid
        if "context_token" not in cols:
            raise SystemExit("some pairs have no context_token feature: re-run `features --encoder`")
        masks["context_token"] = cols["context_token"] >= th["context_token_min_cosine"] - 1e-9
    if "sentence_min_cosine" in th and "sentence_cosine" in cols:
        masks["sentence_meaning"] = cols["sentence_cosine"] >= th["sentence_min_cosine"]
    return masks


def accept(cols: dict[str, np.ndarray], th: dict[str, float], *, without: str | None = None) -> np.ndarray:
    masks = check_masks(cols, th)
    out = np.ones_like(cols["valid"], dtype=bool)
    for name, m in masks.items():
        if name != without:
            out &= m
    return out


def scores(acc: np.ndarray, valid: np.ndarray) -> dict[str, Any]:
    """Precision (validity of what is accepted) and recall (share of valid pairs accepted), with Wilson intervals."""
    tp = int((acc & valid).sum())
    n_acc, n_valid, n = int(acc.sum()), int(valid.sum()), len(acc)
    return {
        "n": n, "n_valid": n_valid, "accepted": n_acc, "accepted_valid": tp,
        "precision": tp / n_acc if n_acc else None, "precision_ci": wilson(tp, n_acc),
        "recall": tp / n_valid if n_valid else None, "recall_ci": wilson(tp, n_valid),
        "acceptance_rate": n_acc / n if n else None,
        "specificity": int((~acc & ~valid).sum()) / int((~valid).sum()) if (~valid).any() else None,
    }


CONFORMANCE_ACCEPTED = [
    ("the actors jump through hoops to make it work .", "jump", "leap"),
    ("it 's a cookie-cutter movie , a cut-and-paste job .", "movie", "film"),
    ("the movies are great .", "movies", "films"),
    ("the movie started slowly .", "started", "began"),
]
CONFORMANCE_REJECTED = [
    ("the film is a charming and often affecting journey .", "film", "celluloid"),
    ("the characters are too cliched to jump off the screen .", "screen", "sieve"),
    ("there 's no way you wo n't be talking about the film .", "way", "agency"),
    ("the whole thing is a mess .", "mess", "passel"),
    ("a sharp , funny comedy .", "funny", "laughable"),
    ("it 's a tremendous achievement .", "tremendous", "terrible"),
    ("there is a lot of fun here .", "lot", "heap"),
    ("having never been a huge fan of dickens ' novel .", "dickens", "deuces"),
]
"""Issue 12's required conformance cases: a threshold setting that breaks one is not eligible."""


def conformance_ok(th: dict[str, float]) -> bool:
    """Whether the strict checks with thresholds ``th`` accept / reject issue 12's conformance cases."""
    from audit.attack.validity import strict_validator

    v = strict_validator(constraints=[
        {"name": "sense", "prior_weight": th["prior_weight"], "min_substitute_share": th["min_substitute_share"],
         "min_sense_prior": th["min_sense_prior"]},
        {"name": "naturalness", "max_zipf_drop": th["max_zipf_drop"], "min_zipf": th["min_zipf"]},
        {"name": "closeness", "min_cosine": th["min_cosine"]},
        {"name": "sentiment", "max_shift": th["max_shift"]},
        {"name": "context_meaning", "min_cosine": th["context_min_cosine"]},
    ])

    def valid(text: str, word: str, sub: str) -> bool:
        toks = text.split()
        return v.swap(toks, toks.index(word), sub).valid

    return all(valid(*c) for c in CONFORMANCE_ACCEPTED) and not any(valid(*c) for c in CONFORMANCE_REJECTED)


_CONFORMANCE: dict[str, Any] = {}


def conformance_columns() -> dict[str, np.ndarray]:
    """The conformance cases as feature columns (computed once), so that the grid tests them by mask;
    :func:`conformance_ok` re-checks the chosen setting with the real checks."""
    if "cols" not in _CONFORMANCE:
        recs = []
        for expected, cases in ((True, CONFORMANCE_ACCEPTED), (False, CONFORMANCE_REJECTED)):
            for text, word, sub in cases:
                toks = text.split()
                pos = toks.index(word)
                variant = " ".join(toks[:pos] + [sub] + toks[pos + 1 :])
                recs.append({"id": f"conformance-{word}-{sub}", "tokens": toks, "position": pos, "substitute": sub,
                             "variant": variant, "valid": expected, "split": "calibration"})
        feats = pair_features(recs, with_encoder=False)
        _CONFORMANCE["cols"] = columns([r | {"features": f} for r, f in zip(recs, feats)])
    return _CONFORMANCE["cols"]  # type: ignore[no-any-return]


_TABLES: dict[int, list[tuple[int, dict[str, float], dict[str, Any], bool]]] = {}


def _grid_table(cols: dict[str, np.ndarray]) -> list[tuple[int, dict[str, float], dict[str, Any], bool]]:
    """Every grid setting's calibration scores and whether it keeps the conformance cases (computed once per ``cols``)."""
    import itertools

    if id(cols) not in _TABLES:
        cal = ~cols["heldout"]
        sub = {k: v[cal] for k, v in cols.items()}
        conf = conformance_columns()
        keys = list(GRID)
        table = []
        for idx, values in enumerate(itertools.product(*(GRID[key] for key in keys))):
            th = dict(zip(keys, values))
            sc = scores(accept(sub, th), sub["valid"])
            if sc["accepted"]:
                table.append((idx, th, sc, bool((accept(conf, th) == conf["valid"]).all())))
        _TABLES[id(cols)] = table
    return _TABLES[id(cols)]


def calibrate(cols: dict[str, np.ndarray], *, min_precision: float = MIN_PRECISION) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Grid search on the calibration half: among the settings whose precision is at least
    ``min_precision`` and that keep issue 12's conformance cases, the best recall; ties go to the
    higher Wilson lower bound of precision, then to the looser thresholds (grid order)."""
    frontier: dict[float, tuple[float, dict[str, float], dict[str, Any]]] = {}
    ranked: list[tuple[tuple[float, float], int, dict[str, float]]] = []
    for idx, th, sc, conf_ok in _grid_table(cols):
        rec = round(float(sc["recall"]), 2)
        lb = sc["precision_ci"][0]
        if rec not in frontier or lb > frontier[rec][0]:
            frontier[rec] = (lb, th, sc)
        if sc["precision"] >= min_precision - 1e-9 and conf_ok:
            ranked.append(((float(sc["recall"]), lb), -idx, th))
    ranked.sort(key=lambda x: (x[0], x[1]), reverse=True)
    best = next(((key, th) for key, _, th in ranked), None)
    if best is not None and not conformance_ok(best[1]):
        raise SystemExit(f"the conformance features disagree with the checks at {best[1]}; re-run `features`")
    if best is None:
        raise SystemExit(f"no threshold setting reaches precision >= {min_precision} and keeps the conformance cases")
    rows = [{"recall_bucket": r, "precision_lower": lb, "thresholds": th, **sc}
            for r, (lb, th, sc) in sorted(frontier.items())]
    return best[1], rows


CV_FOLDS = 5
CV_TARGETS = (0.9, 0.93, 0.95)


def cross_validate(cols: dict[str, np.ndarray], recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """5-fold cross-validation of the calibration rule on the calibration pairs (folds by source sentence):
    for each precision target, choose on four folds (precision >= target, conformance kept, best recall),
    score the left-out fold, and pool the left-out scores.  Says how optimistic a target is."""
    import hashlib as _h

    cal = ~cols["heldout"]
    table = _grid_table(cols)
    keys = list(GRID)
    sub = {k: v[cal] for k, v in cols.items()}
    cal_recs = [r for r, c in zip(recs, cal) if c]
    fold = np.array([int(_h.sha256(f"cv:{r['source']}:{r['line']}".encode()).hexdigest(), 16) % CV_FOLDS
                     for r in cal_recs])
    masks = np.stack([accept(sub, th) for _, th, _, _ in table])
    conf = np.array([ok for _, _, _, ok in table])
    valid = sub["valid"]
    out = []
    for target in CV_TARGETS:
        tp = n = nv = 0
        for k in range(CV_FOLDS):
            tr, te = fold != k, fold == k
            n_tr = masks[:, tr].sum(1)
            tp_tr = (masks[:, tr] & valid[tr]).sum(1)
            ok = conf & (n_tr > 0) & (tp_tr >= target * n_tr - 1e-9)
            if not ok.any():
                continue
            best = int(np.argmax(np.where(ok, tp_tr, -1)))  # best recall; ties: the first (loosest) setting
            acc = masks[best, te]
            tp += int((acc & valid[te]).sum())
            n += int(acc.sum())
            nv += int(valid[te].sum())
        out.append({"target": target, "accepted": n, "accepted_valid": tp,
                    "precision": tp / n if n else None, "precision_ci": wilson(tp, n),
                    "recall": tp / nv if nv else None, "thresholds_keys": keys})
    return out


CONTEXT_TOKEN_GRID = tuple(round(0.3 + 0.01 * i, 2) for i in range(66))
"""Candidate ``context_token.min_cosine`` values (0.30 .. 0.95)."""
CONTEXT_TOKEN_TARGETS = tuple(round(0.88 + 0.01 * i, 2) for i in range(10))
CONTEXT_TOKEN_GOAL = 0.9
CONTEXT_TOKEN_FALLBACK = 0.88


def context_token_values(recs: list[dict[str, Any]]) -> np.ndarray:
    """The ``context_token`` cosine per pair (2.0 where the check could not compute it: it passes)."""
    return np.array([2.0 if r["features"]["context_token"]["value"] is None else float(r["features"]["context_token"]["value"])
                     for r in recs])


def conformance_context_token() -> float:
    """The lowest ``context_token`` cosine among issue 12's must-accept cases (jump->leap, movie->film, ...):
    a threshold above it would break one, so it caps the grid."""
    recs = []
    for text, word, sub in CONFORMANCE_ACCEPTED:
        toks = text.split()
        recs.append({"tokens": toks, "position": toks.index(word), "substitute": sub})
    return min(float(f["value"]) for f in context_token_features(recs))


def calibrate_context_token(cols: dict[str, np.ndarray], recs: list[dict[str, Any]]) -> dict[str, Any]:
    """``context_token.min_cosine`` on all judged pairs (rounds 1-3), among the pairs the shipped strict
    thresholds accept.  Rule, for a validity target: the lowest grid threshold (at most the conformance cap)
    whose accepted pairs are at least that valid.  5-fold cross-validation (folds by source sentence): the
    rule chosen on four folds, scored on the fifth, left-out scores pooled.  The target used is the lowest
    whose pooled left-out validity is >= 0.90, else the lowest reaching 0.88; the default is that rule on all
    the pairs."""
    x_all = context_token_values(recs)
    acc = accept(cols, DEFAULTS_BEFORE)
    x, y = x_all[acc], cols["valid"][acc]
    kept_recs = [r for r, a in zip(recs, acc) if a]
    fold = np.array([int(hashlib.sha256(f"cv:{r['source']}:{r['line']}".encode()).hexdigest(), 16) % CV_FOLDS
                     for r in kept_recs])
    cap = conformance_context_token()
    grid = [t for t in CONTEXT_TOKEN_GRID if t <= cap + 1e-9]

    def rule(xs: np.ndarray, ys: np.ndarray, target: float) -> float | None:
        for t in grid:
            k = xs >= t
            if k.any() and ys[k].mean() >= target - 1e-9:
                return t
        return None

    rows = []
    for target in CONTEXT_TOKEN_TARGETS:
        tp = n = lost = 0
        chosen_folds = []
        for k in range(CV_FOLDS):
            tr, te = fold != k, fold == k
            t = rule(x[tr], y[tr], target)
            chosen_folds.append(t)
            keep = x[te] >= (t if t is not None else grid[-1])
            tp += int((keep & y[te]).sum())
            n += int(keep.sum())
            lost += int((~keep & y[te]).sum())
        rows.append({"target": target, "fold_thresholds": chosen_folds, "accepted": n, "accepted_valid": tp,
                     "precision": tp / n if n else None, "precision_ci": wilson(tp, n),
                     "recall": tp / int(y.sum()), "valid_lost": lost, "threshold_all": rule(x, y, target)})
    pick = next((r for r in rows if r["precision"] is not None and r["precision"] >= CONTEXT_TOKEN_GOAL - 1e-9), None)
    how = f"lowest target with pooled left-out validity >= {CONTEXT_TOKEN_GOAL}"
    if pick is None:
        pick = next((r for r in rows if r["precision"] is not None and r["precision"] >= CONTEXT_TOKEN_FALLBACK - 1e-9), None)
        how = (f"no target reaches pooled left-out validity {CONTEXT_TOKEN_GOAL}; the lowest reaching "
               f"{CONTEXT_TOKEN_FALLBACK}")
    chosen = pick["threshold_all"] if pick is not None else None
    keep = x >= chosen if chosen is not None else np.ones_like(y)
    return {"n_accepted_by_strict": int(acc.sum()), "n_valid": int(y.sum()), "base_validity": float(y.mean()),
            "conformance_cap": round(cap, 4), "grid": [grid[0], grid[-1]], "cross_validation": rows,
            "choice": how, "target": pick["target"] if pick else None, "min_cosine": chosen,
            "cv": pick, "in_sample": scores(keep, y)}


DEFAULTS_BEFORE = {"prior_weight": 0.1, "min_substitute_share": 0.05, "min_sense_prior": 0.4, "min_cosine": 0.7,
                   "max_zipf_drop": 1.0, "min_zipf": 0.0, "max_shift": 0.15, "context_min_cosine": 0.9}
"""The round-3 strict recipe's thresholds (round 2, stop 18, kept for round 3; round 3 changed rules, not
thresholds), without ``context_token``: the ``defaults_before`` row, the recipe that drew round 3's and round 4's
``strict_accepted`` pairs.  Round 1's were prior 0.1, share 0, sense prior 0.4, cosine 0.75, drop 1, shift 0.15,
no context check (held-out 71.4%)."""


SHIPPED = DEFAULTS_BEFORE | {"context_token_min_cosine": 0.75}
"""What the strict recipe ships since round 4: round 3's thresholds plus ``context_token`` at 0.75 (its default,
calibrated on rounds 1-3; its round-4 verdicts were pre-registered before judging).  The ``shipped`` row."""


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _ci(ci: tuple[float, float]) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def evaluate(recs: list[dict[str, Any]], *, min_precision: float = MIN_PRECISION) -> dict[str, Any]:
    """Calibrate on the calibration half; report everything else on the held-out half."""
    cols = columns(recs)
    target = min_precision
    while True:  # the goal's target first; when no setting reaches it (with the conformance cases), the highest one that does
        try:
            chosen, frontier = calibrate(cols, min_precision=target)
            break
        except SystemExit:
            target = round(target - 0.01, 2)
            if target < 0.5:
                raise
    held = cols["heldout"]
    hcols = {k: v[held] for k, v in cols.items()}
    ccols = {k: v[~held] for k, v in cols.items()}
    out: dict[str, Any] = {
        "n_pairs": len(recs), "n_calibration": int((~held).sum()), "n_heldout": int(held.sum()),
        "valid_rate": {"calibration": float(ccols["valid"].mean()), "heldout": float(hcols["valid"].mean())},
        "procedure": (f"grid search over {', '.join(f'{k} {list(v)}' for k, v in GRID.items())} on the calibration half "
                      f"only; objective: among settings with precision (validity of accepted pairs) >= {min_precision} "
                      "that keep issue 12's conformance cases "
                      "(jump->leap, movie->film, movies->films, started->began accepted; film->celluloid, screen->sieve, "
                      "way->agency, mess->passel, funny->laughable, tremendous->terrible, a lot->heap, dickens->deuces "
                      "rejected), the best recall (share of valid pairs accepted); ties: the higher Wilson 95% lower "
                      "bound of precision, then looser thresholds; position checks (mwe, names), morphology and "
                      "pos_kept have no threshold (the held-out precision comes with its Wilson 95% interval)"),
        "precision_target": min_precision, "precision_target_used": target,
        "chosen": chosen, "defaults_before": DEFAULTS_BEFORE, "shipped": SHIPPED,
        "calibration": {"chosen": scores(accept(ccols, chosen), ccols["valid"]),
                        "defaults_before": scores(accept(ccols, DEFAULTS_BEFORE), ccols["valid"]),
                        "shipped": scores(accept(ccols, SHIPPED), ccols["valid"])},
        "heldout": {"shipped": scores(accept(hcols, SHIPPED), hcols["valid"]),
                    "defaults_before": scores(accept(hcols, DEFAULTS_BEFORE), hcols["valid"]),
                    "chosen": scores(accept(hcols, chosen), hcols["valid"]),
                    "loose (accept all)": scores(np.ones_like(hcols["valid"]), hcols["valid"])},
        "frontier_calibration": frontier,
    }
    ablations = []
    shipped = SHIPPED  # the held-out analyses below are of what the recipe ships (round 3's thresholds + context_token)
    masks = check_masks(hcols, shipped)
    full = accept(hcols, shipped)
    for name in masks:
        ablations.append({
            "check": name,
            "without": scores(accept(hcols, shipped, without=name), hcols["valid"]),
            "rejects_alone": int((~masks[name]).sum()),
            "rejects_alone_invalid": int((~masks[name] & ~hcols["valid"]).sum()),
            "rejects_alone_valid": int((~masks[name] & hcols["valid"]).sum()),
            "only_blocker": int((~masks[name] & accept(hcols, shipped, without=name)).sum()),
        })
    out["ablations_heldout"] = ablations
    # The measurement of round 4: the strict_accepted stratum is a uniform sample of what the round-3 recipe
    # accepted when the pairs were drawn; the pairs context_token's pre-registered verdicts keep are a uniform
    # sample of what the shipped recipe accepts.  (The features above re-run the checks: they may differ.)
    pre = {x["id"]: x for x in map(json.loads, PREDICTED.read_text(encoding="utf-8").splitlines()) if x} if PREDICTED.is_file() else {}
    drawn = [r for r in recs if r["split"] == HELDOUT and r["origin"] == "strict_accepted"]
    if drawn and ROUND >= 5:  # drawn with the shipped recipe itself (context_token included): accepted by construction
        out["heldout_drawn"] = {"shipped": scores(np.ones(len(drawn), dtype=bool), np.array([truth(r) for r in drawn]))}
    elif drawn and all(r["id"] in pre for r in drawn):
        v = np.array([truth(r) for r in drawn])
        kept = np.array([not pre[r["id"]]["blocked"] for r in drawn])
        out["heldout_drawn"] = {"shipped": scores(kept, v), "defaults_before": scores(np.ones_like(v), v)}
    out["cross_validation"] = cross_validate(cols, recs)
    held_recs = [r for r, h in zip(recs, held) if h]
    kinds: dict[str, dict[str, int]] = {}
    for r, a in zip(held_recs, full):
        for k in r["kinds"]:
            kinds.setdefault(k, {"n": 0, "let_through": 0})
            kinds[k]["n"] += 1
            kinds[k]["let_through"] += int(a and not truth(r))
    out["failure_kinds_heldout"] = kinds
    origins: dict[str, Any] = {}
    for origin in sorted({r["origin"] for r in held_recs}):
        m = np.array([r["origin"] == origin for r in held_recs])
        origins[origin] = scores(full[m], hcols["valid"][m])
    out["by_origin_heldout"] = origins
    rnd = np.array([r["origin"] == "loose_random" for r in held_recs])
    out["recall_loose_random_heldout"] = scores(full[rnd], hcols["valid"][rnd])
    out["loose_heldout"] = scores(np.ones(int(rnd.sum()), dtype=bool), hcols["valid"][rnd])
    out["loose_heldout_note"] = ("the loose recipe lets every candidate through: its validity rate is the valid share of "
                                 "the held-out loose_random pairs (uniformly drawn loose candidates)")
    out["let_through_invalid_heldout"] = [
        {"id": r["id"], "swap": f"{r['original']} -> {r['substitute']}", "kinds": r["kinds"], "note": r.get("note", "")}
        for r, a in zip(held_recs, full) if a and not truth(r)]
    sens = []
    for mp in (0.8, 0.85, 0.9, 0.95):
        try:
            th, _ = calibrate(cols, min_precision=mp)
        except SystemExit:
            continue  # no eligible setting reaches this precision
        sens.append({"min_precision": mp, "thresholds": th, "calibration": scores(accept(ccols, th), ccols["valid"]),
                     "heldout": scores(accept(hcols, th), hcols["valid"])})
    out["sensitivity_min_precision"] = sens
    if "sentence_cosine" in cols:
        best_s: tuple[tuple[float, float], float] | None = None
        floor = SENTENCE_RECALL_KEPT * float(out["calibration"]["chosen"]["recall"] or 0.0)
        for s_min in SENTENCE_GRID:
            sc = scores(accept(ccols, chosen | {"sentence_min_cosine": s_min}), ccols["valid"])
            if sc["accepted"] and sc["recall"] >= floor - 1e-9:
                key = (sc["precision_ci"][0], float(sc["recall"]))
                if best_s is None or key > best_s[0]:
                    best_s = (key, s_min)
        if best_s is not None:
            th = chosen | {"sentence_min_cosine": best_s[1]}
            out["sentence_meaning_chosen"] = {
                "sentence_min_cosine": best_s[1],
                "rule": (f"with the other thresholds as calibrated: the Wilson lower bound of precision, subject to "
                         f"keeping >= {SENTENCE_RECALL_KEPT:.0%} of the chosen setting's calibration recall, on the calibration half"),
                "calibration": scores(accept(ccols, th), ccols["valid"]),
                "heldout": scores(accept(hcols, th), hcols["valid"]),
            }
        rows = []
        for s_min in SENTENCE_GRID:
            th = chosen | {"sentence_min_cosine": s_min}
            rows.append({"sentence_min_cosine": s_min,
                         "calibration": scores(accept(ccols, th), ccols["valid"]),
                         "heldout": scores(accept(hcols, th), hcols["valid"])})
        out["sentence_meaning"] = rows
    return out


def write_validity_report(res: dict[str, Any]) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "validity.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
    ch, before = res["chosen"], res["defaults_before"]
    lines = [
        "# Validity of single-word swaps: labelled set, calibration of the strict recipe",
        "",
        (f"{res['n_pairs']} (original, variant) pairs from SST-2 train and dev (never test), each judged by reading "
        "(`benchmarks/data/validity_guideline.md`, `benchmarks/data/validity_pairs.jsonl`), one pair per source sentence. "
        f"Calibration: the {res['n_calibration']} pairs of rounds 1-{ROUND - 1} (every earlier held-out round was read "
        "to design later rules, so it is calibration data now; docstring of `HELDOUT` in the script). "
        f"Held-out: {res['n_heldout']} pairs of round {ROUND} (`split: {HELDOUT}`), drawn from sentences no earlier pair used "
        "with the shipped strict recipe (the `shipped` row, `context_token` included) and judged blind by two judges "
        "(half each) by the written guideline, in a shuffled order without seeing the stratum or any filter verdict: "
        "`strict_accepted` = a uniformly drawn candidate that recipe accepts, `loose_random` = a uniformly drawn loose "
        "candidate (for recall and the loose recipe). "
        f"Valid: {_fmt(res['valid_rate']['calibration'])} of calibration pairs, {_fmt(res['valid_rate']['heldout'])} of held-out pairs."),
        "",
        "## Procedure",
        "",
        res["procedure"] + ".",
        "",
    ]
    if res["precision_target_used"] < res["precision_target"]:
        lines += [(f"No setting of the grid reaches calibration precision >= {res['precision_target']} and keeps the "
                   "conformance cases, so the highest target (in steps of 0.01) that one reaches was used: "
                   f"**{res['precision_target_used']}**."), ""]
    ship = res["shipped"]
    lines += [f"| threshold | shipped (since round 4) | round 3 (without context_token) | grid on rounds 1-{ROUND - 1} (not shipped) |",
              "| --- | --- | --- | --- |"]
    lines += [f"| {k} | {ship.get(k, '-')} | {before.get(k, '-')} | {ch.get(k, '-')} |" for k in ship]
    lines += ["", "## Held-out half: is what the strict filter lets through valid?", "",
              ("precision = valid share of accepted pairs (the validity rate of what it lets through); "
              "recall = share of valid pairs accepted; 95% Wilson intervals."), "",
              "| filter | accepted / pairs | precision | 95% CI | recall | 95% CI | invalid rejected |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    shown = {"chosen": f"grid on rounds 1-{ROUND - 1} (not shipped; no context_token)",
             "defaults_before": "round-3 thresholds without context_token",
             "shipped": f"**shipped** (round-3 thresholds + context_token 0.75; the checks of round {ROUND})"}
    for name, sc in res["heldout"].items():
        lines.append(f"| {shown.get(name, name)} | {sc['accepted']} / {sc['n']} | {_fmt(sc['precision'])} | {_ci(sc['precision_ci'])} "
                     f"| {_fmt(sc['recall'])} | {_ci(sc['recall_ci'])} | {_fmt(sc['specificity'])} |")
    rr = res.get("recall_loose_random_heldout")
    if rr is not None:
        lines += ["", (f"Recall (share of valid candidates the strict filter accepts), on the held-out `loose_random` pairs "
                       f"only (uniform candidates; the `strict_accepted` stratum is accepted by construction): "
                       f"{_fmt(rr['recall'])} {_ci(rr['recall_ci'])} ({rr['accepted_valid']} of {rr['n_valid']} valid pairs). "
                       "The recall column above pools both strata and is not a recall estimate.")]
    lz = res["loose_heldout"]
    lines += ["", (f"Loose recipe (nothing blocked): {_fmt(lz['precision'])} (95% CI {_ci(lz['precision_ci'])}) of the "
              f"{lz['n']} held-out `loose_random` pairs (uniformly drawn loose candidates) are valid.")]
    c = res["calibration"]["chosen"]
    lines += ["", (f"On the calibration half itself the chosen setting has precision {_fmt(c['precision'])} "
              f"and recall {_fmt(c['recall'])} ({c['accepted']} accepted) -- optimistic, since it was chosen there."), ""]
    lines += ["", ("The table pools both strata and re-runs the checks from the cached features (a re-run may differ "
              "from the drawing: the checks' data or tagger context); the goal below is measured on the `strict_accepted` "
              "stratum, a uniform sample of what the shipped recipe accepted when the pairs were drawn.")]
    drawn = res.get("heldout_drawn", res["heldout"])
    hc = drawn["shipped"]
    goal = hc["precision"] is not None and hc["precision"] >= 0.9
    line = (f"Goal (>= 90% of what the shipped strict recipe lets through valid, held-out, by the point estimate): "
            f"**{'met' if goal else 'NOT met'}** ({_fmt(hc['precision'])}, {hc['accepted_valid']} of {hc['accepted']} "
            f"accepted pairs, 95% CI {_ci(hc['precision_ci'])})")
    if "defaults_before" in drawn:
        hb = drawn["defaults_before"]
        line += (f"; without `context_token`, on the same pairs: {_fmt(hb['precision'])} ({hb['accepted_valid']} of "
                 f"{hb['accepted']}, 95% CI {_ci(hb['precision_ci'])})")
    lines += [line + ".", ""]
    if res.get("cross_validation"):
        lines += ["## How optimistic is the calibration? 5-fold cross-validation on the calibration pairs", "",
                  ("Folds by source sentence; for each precision target, thresholds chosen on four folds by the rule above "
                   "(grid, conformance cases kept, best recall), scored on the fifth; left-out scores pooled."), "",
                  "| precision target | accepted (left-out) | precision | 95% CI | recall |", "| --- | --- | --- | --- | --- |"]
        for row in res["cross_validation"]:
            lines.append(f"| {row['target']} | {row['accepted']} | {_fmt(row['precision'])} | {_ci(row['precision_ci'])} "
                         f"| {_fmt(row['recall'])} |")
        lines.append("")
    lines += ["## Per-check ablation (held-out, shipped recipe)", "",
              ("'without': the filter with that one check removed; 'rejects alone': pairs the check fails by itself "
              "(invalid / valid); 'only blocker': pairs rejected by this check and no other."), "",
              "| check | precision without | recall without | rejects alone (invalid / valid) | only blocker |",
              "| --- | --- | --- | --- | --- |"]
    for a in res["ablations_heldout"]:
        w = a["without"]
        lines.append(f"| {a['check']} | {_fmt(w['precision'])} | {_fmt(w['recall'])} | {a['rejects_alone']} "
                     f"({a['rejects_alone_invalid']} / {a['rejects_alone_valid']}) | {a['only_blocker']} |")
    lines += ["", "## Failure kinds let through (held-out)", "", "| kind | invalid pairs with it | let through |", "| --- | --- | --- |"]
    for k, v in sorted(res["failure_kinds_heldout"].items(), key=lambda kv: -kv[1]["n"]):
        lines.append(f"| {k} | {v['n']} | {v['let_through']} |")
    lines += ["", "## By how the pair was drawn (held-out)", "", "| origin | pairs | valid | accepted | precision | recall |",
              "| --- | --- | --- | --- | --- | --- |"]
    for k, sc in res["by_origin_heldout"].items():
        lines.append(f"| {k} | {sc['n']} | {sc['n_valid']} | {sc['accepted']} | {_fmt(sc['precision'])} | {_fmt(sc['recall'])} |")
    if res["let_through_invalid_heldout"]:
        lines += ["", "Invalid held-out pairs the shipped recipe accepts:", ""]
        lines += [f"- `{x['swap']}` ({', '.join(x['kinds'])}): {x['note']}" for x in res["let_through_invalid_heldout"]]
    if res.get("sentence_meaning"):
        lines += ["", "## Optional sentence-encoder check (all-MiniLM-L6-v2, `[meaning]` extra) on top of the calibrated filter", "",
                  "| min sentence cosine | calibration precision / recall | held-out precision | held-out recall |", "| --- | --- | --- | --- |"]
        for row in res["sentence_meaning"]:
            cc, hh = row["calibration"], row["heldout"]
            lines.append(f"| {row['sentence_min_cosine']} | {_fmt(cc['precision'])} / {_fmt(cc['recall'])} "
                         f"| {_fmt(hh['precision'])} {_ci(hh['precision_ci'])} | {_fmt(hh['recall'])} |")
    if res.get("sentence_meaning_chosen"):
        sm = res["sentence_meaning_chosen"]
        hh = sm["heldout"]
        lines += ["", (f"Chosen `sentence_meaning.min_cosine` {sm['sentence_min_cosine']} ({sm['rule']}): held-out precision "
                  f"{_fmt(hh['precision'])} {_ci(hh['precision_ci'])}, recall {_fmt(hh['recall'])}, {hh['accepted']} accepted.")]
    lines += ["", "## Sensitivity to the precision target (reported after the main choice; not used to choose)", "",
              "| min calibration precision | thresholds | calibration precision / recall | held-out precision | held-out recall |",
              "| --- | --- | --- | --- | --- |"]
    for row in res["sensitivity_min_precision"]:
        cc, hh = row["calibration"], row["heldout"]
        lines.append(f"| {row['min_precision']} | {json.dumps(row['thresholds'])} | {_fmt(cc['precision'])} / {_fmt(cc['recall'])} "
                     f"| {_fmt(hh['precision'])} {_ci(hh['precision_ci'])} | {_fmt(hh['recall'])} |")
    lines += ["", "## Calibration frontier (calibration half, not filtered by the conformance cases): best precision lower bound per recall level", "",
              "| recall | precision | precision 95% lower bound | accepted | thresholds |", "| --- | --- | --- | --- | --- |"]
    for row in res["frontier_calibration"]:
        if row["recall"] is not None and row["recall"] >= 0.2:
            lines.append(f"| {_fmt(row['recall'])} | {_fmt(row['precision'])} | {_fmt(row['precision_lower'])} | "
                         f"{row['accepted']} | {json.dumps(row['thresholds'])} |")
    (REPORTS / "validity.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


PREDICTED = DATA / "validity_heldout4_context_token.jsonl"
"""Round 4's pre-registered ``context_token`` verdicts (default threshold), computed before the pairs are judged."""


def predict_context_token() -> None:
    """The ``context_token`` value and verdict at the check's default threshold for every unjudged pair of the
    held-out round, written to :data:`PREDICTED` (no judgment is read or written)."""
    from audit.attack.registry import ContextTokenParams

    threshold = ContextTokenParams().min_cosine
    recs = [json.loads(line) for line in UNJUDGED.read_text(encoding="utf-8").splitlines() if line.strip()]
    recs = [r for r in recs if r["split"] == HELDOUT]
    rows = []
    for rec, f in zip(recs, context_token_features(recs)):
        blocked = f["value"] is not None and float(f["value"]) < threshold
        rows.append({"id": rec["id"], "origin": rec["origin"], "context_token": f["value"], "min_cosine": threshold,
                     "blocked": blocked})
    PREDICTED.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for origin in sorted({r["origin"] for r in rows}):
        sel = [r for r in rows if r["origin"] == origin]
        print(f"{origin}: {len(sel)} pairs, context_token would block {sum(r['blocked'] for r in sel)}", file=sys.stderr)
    print(f"wrote {len(rows)} predictions to {PREDICTED}", file=sys.stderr)


def write_context_token_report(res: dict[str, Any]) -> None:
    """``reports/benchmarks/validity_context_token.{json,md}``."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "validity_context_token.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
    cv, ins = res["cv"], res["in_sample"]
    lines = [
        "# Calibration of the opt-in `context_token` check (rounds 1-3)", "",
        ("`context_token` (audit/attack/sentence.py, `[meaning]` extra): cosine between the all-MiniLM-L6-v2 "
         "contextual embedding of the original word in the original sentence and of the substitute in the variant "
         "(mean over each word's word pieces).  Opt-in: not in the strict recipe; its held-out effect is not yet "
         "measured (round 4, `split: heldout4`, drawn with the shipped recipe, to be judged blind)."), "",
        (f"Data: all judged pairs of rounds 1-3 (calibration data now) that the shipped strict thresholds accept: "
         f"{res['n_accepted_by_strict']} pairs, {res['n_valid']} valid ({_fmt(res['base_validity'])})."), "",
        "## Procedure", "",
        (f"Rule for a validity target: the lowest `min_cosine` in {res['grid'][0]} .. {res['grid'][1]} (steps of 0.01) "
         "whose accepted pairs are at least that valid; the grid stops at the conformance cap "
         f"{res['conformance_cap']} (the lowest value among issue 12's must-accept cases: jump->leap, movie->film, "
         "movies->films, started->began; a higher threshold would reject one).  A fold where no threshold reaches the "
         "target uses the grid's last value (`cap` in the table).  5-fold cross-validation, folds by source sentence: the rule chosen on four folds, "
         "scored on the fifth, left-out scores pooled.  Choice: the lowest target whose pooled left-out validity is "
         f">= {CONTEXT_TOKEN_GOAL}; if none, the lowest reaching {CONTEXT_TOKEN_FALLBACK}; the default is that rule "
         "applied to all the pairs."), "",
        "| target | fold thresholds | accepted (left-out) | pooled validity | 95% CI | recall | valid lost | threshold on all |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in res["cross_validation"]:
        folds = ", ".join("cap" if t is None else f"{t:.2f}" for t in r["fold_thresholds"])
        lines.append(f"| {r['target']} | {folds} | {r['accepted']} | {_fmt(r['precision'])} | {_ci(r['precision_ci'])} "
                     f"| {_fmt(r['recall'])} | {r['valid_lost']} | {r['threshold_all'] if r['threshold_all'] is not None else '-'} |")
    lines += ["", "## Choice", "",
              (f"{res['choice']}: target {res['target']}, **`min_cosine` {res['min_cosine']}** (the check's default).  "
               f"Cross-validated: {_fmt(cv['precision'])} valid {_ci(cv['precision_ci'])} of {cv['accepted']} accepted, "
               f"recall {_fmt(cv['recall'])} ({cv['valid_lost']} of {res['n_valid']} valid pairs lost).  In sample (all "
               f"the pairs, optimistic): {_fmt(ins['precision'])} of {ins['accepted']}, recall {_fmt(ins['recall'])}.  "
               f"Goal (>= {CONTEXT_TOKEN_GOAL:.0%} cross-validated): "
               + ("**met**." if (cv["precision"] or 0) >= CONTEXT_TOKEN_GOAL else "**not met**.")), ""]
    (REPORTS / "validity_context_token.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--origin", choices=["loose", "strict", "fresh"], default="loose")
    g.add_argument("--n-loose", type=int, default=90, help="--origin fresh: loose_random pairs (--n: strict_accepted)")
    g.add_argument("--n", type=int, default=240)
    g.add_argument("--seed", type=int, default=20261201)
    g.add_argument("--stratum", choices=["mixed", "proxy"], default="mixed")
    f = sub.add_parser("features")
    f.add_argument("--encoder", action="store_true", help="also the sentence-encoder cosine ([meaning] extra)")
    f.add_argument("--all", action="store_true", help="recompute every pair's features (after a check changed)")
    c = sub.add_parser("calibrate")
    c.add_argument("--min-precision", type=float, default=MIN_PRECISION)
    sub.add_parser("context-token", help="calibrate the opt-in context_token check on all judged pairs")
    sub.add_parser("predict-context-token", help=f"the context_token verdict on the unjudged {HELDOUT} pairs "
                                                  f"(written to {PREDICTED.name} before they are judged)")
    args = ap.parse_args(argv)
    if args.cmd == "predict-context-token":
        predict_context_token()
        return 0
    if args.cmd == "context-token":
        recs = load_judged()
        res = calibrate_context_token(columns(recs), recs)
        write_context_token_report(res)
        print(json.dumps({"min_cosine": res["min_cosine"], "cv": res["cv"]}, indent=1), file=sys.stderr)
        return 0
    if args.cmd == "calibrate":
        res = evaluate(load_judged(), min_precision=args.min_precision)
        write_validity_report(res)
        print(json.dumps({"chosen": res["chosen"], "heldout": res["heldout"]["chosen"]}, indent=1), file=sys.stderr)
        return 0
    if args.cmd == "features":
        recs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
        have: dict[str, dict[str, Any]] = {}
        if not args.all and FEATURES.is_file():  # the features depend only on the pair and the code's checks
            have = {f["id"]: f for f in map(json.loads, FEATURES.read_text(encoding="utf-8").splitlines()) if f}
        todo = [r for r in recs if r["id"] not in have]
        have.update({f["id"]: f for f in pair_features(todo, with_encoder=args.encoder)})
        older = [r for r in recs if "context_token" not in have[r["id"]]]  # cached before the check existed
        for r, ct in zip(older, context_token_features(older)):
            have[r["id"]]["context_token"] = ct
        FEATURES.write_text("".join(json.dumps(have[r["id"]]) + "\n" for r in recs), encoding="utf-8")
        print(f"wrote features of {len(recs)} pairs ({len(todo)} computed now) to {FEATURES}", file=sys.stderr)
    if args.cmd == "generate":
        if args.origin == "fresh":
            recs = generate_fresh(args.n, args.n_loose, args.seed)
        elif args.origin == "loose":
            recs = generate_loose(args.n, args.seed, stratum=args.stratum)
        else:
            recs = generate_strict(args.n, args.seed)
        with UNJUDGED.open("a", encoding="utf-8") as fh:
            for rec in recs:
                fh.write(json.dumps(rec) + "\n")
        print(f"wrote {len(recs)} pairs to {UNJUDGED}", file=sys.stderr)
    return 0


def generate_strict(n: int, seed: int, *, accepted_share: float = 0.65) -> list[dict[str, Any]]:
    """Pairs from the strict recipe's checks (its default thresholds at generation time) on unused sentences.

    Every loose candidate of the sentence is judged by the strict checks; with probability
    ``accepted_share`` an accepted one is drawn (``strict_accepted``), else a rejected one
    (``strict_rejected``), uniformly within the stratum.  A sentence without a candidate in
    the drawn stratum is skipped.
    """
    from audit.attack import _nlp
    from audit.attack.validity import strict_validator

    rng = random.Random(seed)
    vecs = load_glove()
    vocab = set(vecs)
    validator = strict_validator()
    sentences = [("train", *r) for r in read_sst("train")] + [("dev", *r) for r in read_sst("dev")]
    rng.shuffle(sentences)
    used = used_sentences()
    out: list[dict[str, Any]] = []
    for source, line, label, tokens in sentences:
        if len(out) >= n:
            break
        if (source, line) in used or not 4 <= len(tokens) <= 40:
            continue
        want_accepted = rng.random() < accepted_share
        tags = _nlp.tag(tokens)
        cands = loose_candidates(tokens, tags, vocab)
        pool = [(i, c) for i in sorted(cands) for c in cands[i]
                if validator.swap(tokens, i, c, tags=tags).valid == want_accepted]
        if not pool:
            continue
        i, c = rng.choice(pool)
        out.append(record(source, line, label, tokens, i, c, tags[i], "strict_accepted" if want_accepted else "strict_rejected"))
    return out


def generate_fresh(n_strict: int, n_loose: int, seed: int) -> list[dict[str, Any]]:
    """A held-out round's pairs (``split:`` :data:`HELDOUT`; round 2 first), from sentences no earlier pair used, with the strict
    recipe's thresholds as they are in the code when this runs (the calibrated ones): ``strict_accepted``, one
    uniformly drawn candidate the strict checks accept (precision: is what strict lets through valid?), and
    ``loose_random``, one uniformly drawn loose candidate of a random position (recall, and the loose recipe's
    validity rate).  Sentences alternate between the two strata; each gives at most one pair."""
    from audit.attack import _nlp
    from audit.attack.validity import strict_validator

    rng = random.Random(seed)
    vocab = set(load_glove())
    validator = strict_validator()
    sentences = [("train", *r) for r in read_sst("train")] + [("dev", *r) for r in read_sst("dev")]
    rng.shuffle(sentences)
    used = used_sentences()
    strict: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []
    for source, line, label, tokens in sentences:
        if len(strict) >= n_strict and len(loose) >= n_loose:
            break
        if (source, line) in used or not 4 <= len(tokens) <= 40:
            continue
        want_strict = len(loose) >= n_loose or (len(strict) < n_strict and len(strict) <= len(loose))
        tags = _nlp.tag(tokens)
        cands = loose_candidates(tokens, tags, vocab)
        if not cands:
            continue
        if want_strict:
            # the first accepted candidate of a random order: uniform among the accepted ones, and it stops the
            # (encoder-bound) checks at the first acceptance (from round 6; before, every candidate was checked)
            order = [(i, c) for i in sorted(cands) for c in cands[i]]
            rng.shuffle(order)
            hit = next(((i, c) for i, c in order if validator.swap(tokens, i, c, tags=tags).valid), None)
            if hit is None:
                continue
            i, c = hit
            strict.append(record(source, line, label, tokens, i, c, tags[i], "strict_accepted", {"split": HELDOUT}))
        else:
            pos = rng.choice(sorted(cands))
            loose.append(record(source, line, label, tokens, pos, rng.choice(cands[pos]), tags[pos], "loose_random",
                                {"split": HELDOUT}))
    out = strict + loose
    rng.shuffle(out)  # judged in this order, blind to the stratum
    return out


if __name__ == "__main__":
    raise SystemExit(main())
