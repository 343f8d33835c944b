"""firewalld and the bridge network: tke0 in a zone of its own, as docker's docker0.

    problem = firewalld.trust(network.BRIDGE)   # when the bridge is made; None if all is well

Where firewalld runs, an interface in no zone is in the default zone, whose forwarding
(firewalld 1.x, nftables) rejects the containers' traffic to other hosts and whose input
rejects their connections to this one. docker puts docker0 into a zone "docker" with target
ACCEPT; tke puts tke0 into the zone "tke", made the same way when missing. The binding is
permanent and runtime, so a reload or a reboot keeps it (then tke0 is in the zone as soon as it
exists, and this costs one firewall-cmd call per boot). Published ports need no policy:
firewalld accepts forwarded traffic that was DNATed (`ct status dnat accept`) before its zones.

A zone firewalld does not know yet becomes live only by a reload, which also flushes the
iptables rules of every program: the caller adds its rules after this. Without firewall-cmd, or
without a firewalld process in this network namespace, nothing happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional

ZONE = "tke"
NOT_RUNNING = 252  # firewall-cmd's exit status when firewalld does not run
TIMEOUT = 60.0


class FirewallCmdError(Exception):
    """A firewall-cmd call failed; the message is the call and its answer."""


def trust(interface: str) -> Optional[str]:
    """Put `interface` into the zone tke (target ACCEPT) when firewalld runs; a warning in
    docker's words when that fails, None otherwise."""
    cmd = shutil.which("firewall-cmd")
    if cmd is None or not runs_here():
        return None
    try:
        now = _call(cmd, f"--get-zone-of-interface={interface}")
        if now.returncode == NOT_RUNNING or now.stdout.strip() == ZONE:
            return None
        bind(cmd, interface)
    except FirewallCmdError as exc:
        return (
            f"WARNING: firewalld is running and {interface} is not in its zone {ZONE!r} ({exc}): "
            "containers on the bridge network may not reach other hosts nor this one"
        )
    return None


def runs_here() -> bool:
    """Whether a firewalld process runs in this network namespace: the one it filters (tke in
    a namespace of its own, as in the tests, must leave the host's firewalld alone)."""
    mine = os.stat("/proc/self/ns/net").st_ino
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as fh:
                if fh.read().strip() != "firewalld":
                    continue
            if os.stat(f"/proc/{pid}/ns/net").st_ino == mine:
                return True
        except OSError:  # gone meanwhile
            continue
    return False


def bind(cmd: str, interface: str) -> None:
    """The zone (made if missing) with the interface, in the permanent configuration and in
    the runtime one."""
    if ZONE not in _run(cmd, "--permanent", "--get-zones").split():
        _run(cmd, "--permanent", f"--new-zone={ZONE}")
        _run(cmd, "--permanent", f"--zone={ZONE}", "--set-target=ACCEPT")
    _run(cmd, "--permanent", f"--zone={ZONE}", f"--change-interface={interface}")
    if ZONE in _run(cmd, "--get-zones").split():
        _run(cmd, f"--zone={ZONE}", f"--change-interface={interface}")
    else:
        _run(cmd, "--reload")


def _run(cmd: str, *argv: str) -> str:
    proc = _call(cmd, *argv)
    if proc.returncode != 0:
        answer = (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}"
        raise FirewallCmdError(f"firewall-cmd {' '.join(argv)}: {answer}")
    return proc.stdout


def _call(cmd: str, *argv: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [cmd, *argv], capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FirewallCmdError(f"firewall-cmd {' '.join(argv)}: {exc}") from None
