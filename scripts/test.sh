#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite. Needs root (lab hosts, engine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/vermin -q --no-tips -t=3.6- --violations modules toolkit/agent
exec .venv/bin/pytest -q "$@"
