#!/usr/bin/env python3
"""Check that requirements/lock.txt and pyproject.toml agree (run by `make test` and tests/test_lock.py).

1. Every requirement of pyproject.toml -- ``dependencies`` and every optional extra -- is met by an
   exact ``==`` pin in the lock (same name, a version inside the declared range).
2. Nothing in the lock is unexplained: with the installed packages' metadata, the lock is exactly
   the closure of pyproject's requirements (direct ones plus everything they require, extras
   included), and each pin satisfies every range that any package of the closure asks for.
3. The environment this runs in has exactly the locked versions installed.

Exit status 0 when all hold; 1 with one line per problem otherwise. Fix: edit pyproject.toml,
then `bash scripts/lock.sh` (see README, "Dependencies and the lock file").
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]


def parse_lock(text: str) -> tuple[dict[str, str], list[str]]:
    """``{canonical name: version}`` of the ``name==version`` lines, plus problems with other lines."""
    pins: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip() or any(c in version for c in "<>=!~,;* "):
            problems.append(f"lock line {number}: {raw.strip()!r} is not an exact 'name==version' pin")
            continue
        key = canonicalize_name(name.strip())
        if key in pins:
            problems.append(f"lock line {number}: {name.strip()} is pinned twice")
        pins[key] = version.strip()
    return pins, problems


def pyproject_requirements(pyproject: dict) -> tuple[str, list[Requirement], list[str]]:  # type: ignore[type-arg]
    """The project name, every requirement (base + all extras), and the extras' names."""
    project = pyproject["project"]
    extras = sorted(project.get("optional-dependencies", {}))
    reqs = [Requirement(r) for r in project.get("dependencies", [])]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return str(project["name"]), reqs, extras


def _applies(req: Requirement, extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    env = dict(default_environment())
    return any(req.marker.evaluate({**env, "extra": e}) for e in (*extras, ""))


def _satisfied(req: Requirement, version: str) -> bool:
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def check_declared(reqs: list[Requirement], pins: dict[str, str]) -> list[str]:
    """Problems with pyproject's own requirements (rule 1)."""
    problems = []
    for req in reqs:
        if not _applies(req, []):
            continue
        key = canonicalize_name(req.name)
        if key not in pins:
            problems.append(f"{req} (pyproject.toml) has no pin in the lock")
        elif not _satisfied(req, pins[key]):
            problems.append(f"{req} (pyproject.toml) is not met by the lock's {req.name}=={pins[key]}")
    return problems


def closure(reqs: list[Requirement]) -> tuple[dict[str, list[Requirement]], list[str]]:
    """Every package the requirements pull in (per installed metadata), with the ranges asked of it."""
    asked: dict[str, list[Requirement]] = {}
    problems: list[str] = []
    todo = [(req, req.extras) for req in reqs]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, extras = todo.pop()
        key = canonicalize_name(req.name)
        asked.setdefault(key, []).append(req)
        marker = (key, frozenset(extras))
        if marker in seen:
            continue
        seen.add(marker)
        try:
            requires = metadata.distribution(req.name).requires or []
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name} is not installed here (run `make setup`)")
            continue
        for text in requires:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({**default_environment(), "extra": e})
                                         for e in (*extras, "")):
                todo.append((sub, sub.extras))
    return asked, problems


def check(pyproject_text: str, lock_text: str, *, environment: bool = True) -> list[str]:
    """All problems; an empty list means lock and pyproject agree."""
    pins, problems = parse_lock(lock_text)
    name, reqs, _extras = pyproject_requirements(tomllib.loads(pyproject_text))
    if canonicalize_name(name) in pins:
        problems.append(f"the lock pins the project itself ({name}); it is installed with `pip install -e .`")
    problems += check_declared(reqs, pins)
    if not environment:
        return problems
    asked, missing = closure(reqs)
    problems += missing
    for key, want in sorted(asked.items()):
        if key not in pins:
            problems.append(f"{key} is required (by {want[0]}) but not pinned in the lock")
            continue
        problems += [f"lock pin {key}=={pins[key]} does not satisfy {r}" for r in want if not _satisfied(r, pins[key])]
    for key in sorted(set(pins) - set(asked)):
        problems.append(f"lock pins {key}=={pins[key]}, which nothing in pyproject.toml requires")
    for key, version in sorted(pins.items()):
        try:
            installed = metadata.version(key)
        except metadata.PackageNotFoundError:
            problems.append(f"{key}=={version} is locked but not installed (run `make setup`)")
            continue
        if installed != version:
            problems.append(f"{key} {installed} is installed but the lock says {version} (run `make setup`)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements" / "lock.txt")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--no-environment", action="store_true", help="only rule 1 (no installed metadata)")
    args = parser.parse_args(argv)
    problems = check(args.pyproject.read_text(encoding="utf-8"), args.lock.read_text(encoding="utf-8"),
                     environment=not args.no_environment)
    for problem in problems:
        print(f"lock check: {problem}", file=sys.stderr)
    if problems:
        print("lock check: FAILED (fix: edit pyproject.toml, then `bash scripts/lock.sh`; see README)",
              file=sys.stderr)
        return 1
    print(f"lock check: {args.lock} agrees with {args.pyproject}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
