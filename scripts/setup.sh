#!/usr/bin/env bash
# Install everything tk needs on a Debian 12 machine (as root): system packages and a venv in
# .venv with tk and its dev tools. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  python3 python3-venv python3-pip git ca-certificates
  openssh-server openssh-client sudo iproute2 iptables nftables procps psmisc
  crun runc docker-registry skopeo umoci busybox-static apache2-utils zstd docker.io
  debootstrap systemd-container tmux qemu-system-x86 tini dbus-daemon dbus-bin
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Packages such as docker.io and docker-registry would start system services on install:
  # the tests start their own (on 127.0.0.1, with private state), never the machine's.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    guard=/usr/sbin/policy-rc.d
  fi
  trap '[ -z "$guard" ] || rm -f "$guard"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$guard" ] || rm -f "$guard"
  guard=""
fi

if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
# compat: the editable install is a plain path in a .pth file; the default mode imports a
# finder (pathlib and more) at every interpreter start-up, ~8 ms on each `tk` and `tke` run
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' \
  --config-settings editable_mode=compat 2>/dev/null ||
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
# Nothing in the venv needs setuptools (pip builds tk in an isolated environment, as it does
# for Python 3.12+ venvs, which come without it); its distutils-precedence.pth imports
# _distutils_hack at every interpreter start-up, ~0.5 ms of each `tk` and `tke` command.
if compgen -G ".venv/lib/python3*/site-packages/distutils-precedence.pth" >/dev/null; then
  .venv/bin/pip uninstall -q -y setuptools
fi
# pip's `tke` script runs the interpreter's whole site step first; the launcher runs it with
# -IS and the import paths written in (~0.6 ms of every command; toolkit/engine/launcher.py)
.venv/bin/python -m toolkit.engine.launcher .venv/bin/tke
echo "tk is installed in $(pwd)/.venv: $(.venv/bin/tk --version)"
