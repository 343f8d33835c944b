#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite, then the linters. Needs root (lab
# hosts, engine). Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# The differential tests of the host-preparation modules compare with Ansible (ansible-core plus
# ansible.posix); it lives in a bench-only venv, never in tk's own.
if [ ! -x bench/.venvs/ansible-full/bin/ansible-playbook ]; then
  /usr/bin/python3 -m venv bench/.venvs/ansible-full &&
    bench/.venvs/ansible-full/bin/pip install -q --disable-pip-version-check 'ansible>=12,<13' ||
    echo "warning: could not install Ansible: its differential tests will skip" >&2
fi
.venv/bin/pytest -q "$@"
tests=$?
.venv/bin/ruff check --quiet . && echo "ruff: clean"
lint=$?
.venv/bin/vermin -q --no-tips -t=3.6- --violations modules toolkit/agent && echo "vermin: target code runs on Python 3.6+"
target=$?
[ "$tests" -eq 0 ] && [ "$lint" -eq 0 ] && [ "$target" -eq 0 ]
