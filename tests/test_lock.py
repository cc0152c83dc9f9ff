"""The locked install: lock and pyproject agree, and every third-party import of audit/ is declared."""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
LOCK = REPO / "requirements" / "lock.txt"


def _check_lock():  # noqa: ANN202 - the script's module
    spec = importlib.util.spec_from_file_location("check_lock", REPO / "scripts" / "check_lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lock_agrees_with_pyproject_and_environment() -> None:
    problems = _check_lock().check(PYPROJECT.read_text(), LOCK.read_text())
    assert problems == []


def test_lock_pins_cpu_torch_and_no_cuda() -> None:
    pins, problems = _check_lock().parse_lock(LOCK.read_text())
    assert problems == []
    assert pins["torch"].startswith("2.13.0")
    assert not [name for name in pins if name.startswith("nvidia-")]


@pytest.mark.parametrize("edit,expect,environment", [
    (lambda p, lk: (p.replace('"scipy>=1.10"', '"scipy>=99"'), lk), "scipy>=99", False),
    (lambda p, lk: (p.replace('"numpy>=1.24",', '"numpy>=1.24", "left-pad>=1",'), lk), "left-pad>=1", False),
    (lambda p, lk: (p.replace('"ruff>=0.6"', '"ruff>=0.6,<0.1"'), lk), "ruff", False),  # an extra is checked too
    (lambda p, lk: (p, lk.replace("tqdm==", "tqdm>=")), "not an exact", False),
    (lambda p, lk: (p, "\n".join(line for line in lk.splitlines() if not line.startswith("wordfreq=="))),
     "wordfreq", False),
    (lambda p, lk: (p, lk + "leftover-package==1.0\n"), "nothing in pyproject.toml requires", True),
    (lambda p, lk: (p, lk.replace("\nidna==", "\n#idna==")), "idna is required", True),  # a transitive pin
])
def test_lock_check_catches_disagreement(edit, expect, environment) -> None:  # noqa: ANN001
    pyproject, lock = edit(PYPROJECT.read_text(), LOCK.read_text())
    problems = _check_lock().check(pyproject, lock, environment=environment)
    assert any(expect in p for p in problems), problems


# ------------------------------------------------------------------------ declared imports
def _declared() -> set[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {canonicalize_name(Requirement(r).name) for r in reqs}


def _top_level_imports(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def undeclared_imports(imports: dict[str, list[str]], declared: set[str]) -> list[str]:
    dists = metadata.packages_distributions()
    problems = []
    for module, where in sorted(imports.items()):
        if module in sys.stdlib_module_names or module in ("audit", "__future__"):
            continue
        owners = {canonicalize_name(d) for d in dists.get(module, [])}
        if not owners:
            problems.append(f"{module} (imported at {where[0]}) belongs to no installed distribution")
        elif not owners & declared:
            problems.append(f"{module} (imported at {where[0]}, from {', '.join(sorted(owners))}) "
                            "is not declared in pyproject.toml")
    return problems


def test_every_third_party_import_of_audit_is_declared() -> None:
    imports = _top_level_imports(REPO / "audit")
    assert "torch" in imports and "yaml" in imports  # the scan sees imports inside functions too
    assert undeclared_imports(imports, _declared()) == []


def test_import_scan_flags_an_undeclared_module() -> None:
    imports = _top_level_imports(REPO / "audit")
    problems = undeclared_imports(imports, _declared() - {"tqdm"})
    assert any(p.startswith("tqdm ") for p in problems), problems
    assert undeclared_imports({"no_such_module_xyz": ["x.py:1"]}, _declared())
