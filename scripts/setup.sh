#!/usr/bin/env bash
# Create the virtual environment and install reat-audit from the lock file
# (requirements/lock.txt: exact versions of everything, incl. the dev, ray and meaning extras).
# torch is pinned and installed first: 2.13.0 is the CPU build cached on these machines; an
# unpinned torch would pull a multi-GB CUDA build. Everything else comes from the lock with
# --no-deps, so nothing is resolved afresh; `pip check` then proves the set is consistent.
# To update the lock: edit pyproject.toml, run `bash scripts/lock.sh` (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
LOCK="requirements/lock.txt"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install -q --upgrade pip
"${PIP[@]}" install -q "torch==2.13.0"
"${PIP[@]}" install -q --no-deps -r "$LOCK"
"${PIP[@]}" install -q --no-deps -e .
"${PIP[@]}" check
"$VENV/bin/python" scripts/check_lock.py --lock "$LOCK"
