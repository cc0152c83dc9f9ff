#!/usr/bin/env bash
# Create the virtual environment and install reat-audit with its test extras (dev, and ray for the Ray executor tests).
# torch is pinned and installed first: 2.13.0 is the CPU build cached on these
# machines; an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
VENV="${1:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -e ".[dev,ray]"
