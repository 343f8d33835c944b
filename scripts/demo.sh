#!/usr/bin/env bash
# Set everything up, then run the demo playbook (playbooks/site.yml) against three throw-away
# lab hosts on this machine, twice (the second run changes nothing), and remove the hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
TK=.venv/bin/tk
LAB=demo
# the hosts go, and the agents the keeper holds for them (tk's ControlPersist: README)
trap '$TK lab down --name $LAB >/dev/null 2>&1 || true; $TK keeper stop >/dev/null 2>&1 || true' EXIT
$TK lab up 3 --name "$LAB"
INV="${TK_LAB_ROOT:-/run/tk-lab}/$LAB/inventory.ini"
echo "== first run: configures the hosts"
$TK play -i "$INV" playbooks/site.yml
echo "== second run: nothing left to change (the agents of the first run are reused)"
$TK play -i "$INV" playbooks/site.yml
