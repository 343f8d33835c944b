#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite, then the linters. Needs root (lab
# hosts, engine). Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/pytest -q "$@"
tests=$?
.venv/bin/ruff check --quiet . && echo "ruff: clean"
lint=$?
.venv/bin/vermin -q --no-tips -t=3.6- --violations modules toolkit/agent && echo "vermin: target code runs on Python 3.6+"
target=$?
[ "$tests" -eq 0 ] && [ "$lint" -eq 0 ] && [ "$target" -eq 0 ]
