#!/usr/bin/env bash
# Set everything up, then run the demo playbook (playbooks/site.yml) against three throw-away
# lab hosts on this machine, twice (the second run changes nothing), and remove the hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
TK=.venv/bin/tk
LAB=demo
WORK=$(mktemp -d /tmp/tk-demo.XXXXXX)
# the hosts go (with their containers), the agents the keeper holds for them (tk's
# ControlPersist: README), and the image's scratch store
trap '$TK lab down --name $LAB >/dev/null 2>&1 || true; $TK keeper stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
# The app's image, made here with tke itself (no registry, no network): busybox-static's
# httpd as a one-file image, saved as an archive the playbook loads on every host.
mkdir -p "$WORK/rootfs/bin" && cp /bin/busybox "$WORK/rootfs/bin/busybox"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
export TKE_ROOT="$WORK/store"
.venv/bin/tke import -c 'CMD ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' \
  -c 'EXPOSE 80' "$WORK/rootfs.tar" demo/httpd:1 >/dev/null
.venv/bin/tke save -o "$WORK/httpd.tar" demo/httpd:1
unset TKE_ROOT
$TK lab up 3 --name "$LAB"
INV="${TK_LAB_ROOT:-/run/tk-lab}/$LAB/inventory.ini"
echo "== first run: configures the hosts and starts the app's container on each"
$TK play -i "$INV" playbooks/site.yml -e app_image_archive="$WORK/httpd.tar"
echo "== second run: nothing left to change (the agents of the first run are reused)"
$TK play -i "$INV" playbooks/site.yml -e app_image_archive="$WORK/httpd.tar"
