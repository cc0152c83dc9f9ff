"""Blind judging of a validity round: split the unjudged pairs for the judges, then merge their judgments.

Run from the repository root, after ``calibrate_validity.py generate`` wrote
``benchmarks/data/validity_pairs_unjudged.jsonl`` (and it was committed, so the draw is on record before anyone
judges):

``blind --out DIR --judges 2``
    Writes ``DIR/judge_<k>.jsonl``: each pair with only ``id``, ``label``, ``original``, ``variant``, ``swap``
    and ``position``, never its stratum (``origin``), split or any check verdict; the pairs keep the drawn
    (shuffled) order and are dealt to the judges in turn.
``merge FILE...``
    Reads the judges' answers (one JSON object per line: ``id``, ``valid``, ``kinds``, ``note``), checks that
    every unjudged pair has exactly one answer with a known failure kind, appends the judged pairs to
    ``benchmarks/data/validity_pairs.jsonl`` with ``judge`` = the answer file's stem, and empties the unjudged file.
    Nothing is written when a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate_validity import PAIRS, UNJUDGED  # noqa: E402  (one owner of the labelled set's paths)

KINDS = frozenset({"wrong_sense", "idiom", "rare_or_archaic", "grammar_article_inflection", "name",
                   "sentiment_change", "other"})
"""The failure kinds of ``benchmarks/data/validity_guideline.md``."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        fix = "run `calibrate_validity.py generate` first" if path == UNJUDGED else "check the path"
        raise SystemExit(f"{path}: no such file; {fix}")
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{lineno}: not JSON ({exc.msg}); fix the line and re-run") from exc
    return out


def blind(out: Path, judges: int) -> None:
    pairs = read_jsonl(UNJUDGED)
    out.mkdir(parents=True, exist_ok=True)
    for k in range(judges):
        mine = pairs[k::judges]
        rows = [{"id": p["id"], "label": p["label"], "original": " ".join(p["tokens"]), "variant": p["variant"],
                 "swap": f"{p['original']} -> {p['substitute']}", "position": p["position"]} for p in mine]
        (out / f"judge_{k + 1}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        print(f"{out / f'judge_{k + 1}.jsonl'}: {len(rows)} pairs", file=sys.stderr)


def merge(files: list[Path]) -> None:
    pairs = read_jsonl(UNJUDGED)
    ids = {p["id"] for p in pairs}
    answers: dict[str, dict[str, Any]] = {}
    errors = []
    for path in files:
        for a in read_jsonl(path):
            pid = a.get("id")
            if pid not in ids:
                errors.append(f"{path}: unknown id {pid!r}")
            elif pid in answers:
                errors.append(f"{path}: {pid} judged twice")
            elif not isinstance(a.get("valid"), bool):
                errors.append(f"{path}: {pid}: 'valid' must be true or false")
            elif set(a.get("kinds") or []) - KINDS or (a["valid"] and a.get("kinds")) or (not a["valid"] and not a.get("kinds")):
                errors.append(f"{path}: {pid}: kinds {a.get('kinds')!r} (empty when valid; else from {sorted(KINDS)})")
            else:
                answers[pid] = a | {"judge": path.stem}
    missing = sorted(ids - set(answers))
    if missing:
        errors.append(f"{len(missing)} pairs without a judgment (first: {missing[0]})")
    if errors:
        raise SystemExit("nothing merged:\n" + "\n".join(errors))
    with PAIRS.open("a", encoding="utf-8") as fh:
        for p in pairs:
            a = answers[p["id"]]
            fh.write(json.dumps(p | {"valid": a["valid"], "kinds": list(a.get("kinds") or []),
                                     "note": str(a.get("note", "")), "judge": a["judge"]}) + "\n")
    UNJUDGED.write_text("", encoding="utf-8")
    print(f"merged {len(pairs)} judged pairs into {PAIRS}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("blind")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--judges", type=int, default=2)
    m = sub.add_parser("merge")
    m.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "blind":
        blind(args.out, args.judges)
    else:
        merge(args.files)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
