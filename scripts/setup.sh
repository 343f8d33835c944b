#!/usr/bin/env bash
# Install everything tk needs on a Debian 12 machine (as root): system packages and a venv in
# .venv with tk and its dev tools. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  python3 python3-venv python3-pip git ca-certificates
  openssh-server openssh-client sudo iproute2 iptables nftables procps psmisc
  crun runc docker-registry skopeo umoci busybox-static apache2-utils zstd docker.io
  debootstrap systemd-container tmux
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The distribution's registry service is started by the tests on 127.0.0.1, never system-wide.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q docker-registry 2>/dev/null; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
echo "tk is installed in $(pwd)/.venv: $(.venv/bin/tk --version)"
