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
    from audit.attack.constraints import EntityConstraint, PosMatchConstraint, StopwordConstraint, SwapContext, apply_filters
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
    variant = tokens[:pos] + [sub] + tokens[pos + 1 :]
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--origin", choices=["loose", "strict"], default="loose")
    g.add_argument("--n", type=int, default=240)
    g.add_argument("--seed", type=int, default=20261201)
    g.add_argument("--stratum", choices=["mixed", "proxy"], default="mixed")
    args = ap.parse_args(argv)
    if args.cmd == "generate":
        recs = generate_loose(args.n, args.seed, stratum=args.stratum) if args.origin == "loose" else generate_strict(args.n, args.seed)
        with UNJUDGED.open("a", encoding="utf-8") as fh:
            for rec in recs:
                fh.write(json.dumps(rec) + "\n")
        print(f"wrote {len(recs)} pairs to {UNJUDGED}", file=sys.stderr)
    return 0


def generate_strict(n: int, seed: int) -> list[dict[str, Any]]:
    raise SystemExit("strict generation needs the strict recipe (helper 'attack'); not merged yet")


if __name__ == "__main__":
    raise SystemExit(main())
