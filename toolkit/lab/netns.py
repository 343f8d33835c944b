"""Network plumbing of a lab in the root namespace: a bridge, and per host a netns + veth pair.

Everything goes through one `ip -batch` process per change, which is far faster than one `ip`
per command. Addresses inside a host's namespace are set by the host's own init script.
"""

from __future__ import annotations

import os
import subprocess
from typing import Dict, Iterable, List

from toolkit.errors import TkError

NETNS_DIR = "/run/netns"


class LabError(TkError):
    """The lab could not be made or removed (missing tool, not root, kernel refusal)."""


def ip_batch(commands: Iterable[str], force: bool = False) -> None:
    """Run `ip` commands in one process; with force, keep going past errors (for teardown)."""
    script = "\n".join(commands) + "\n"
    if script.strip() == "":
        return
    argv = ["ip", "-force", "-batch", "-"] if force else ["ip", "-batch", "-"]
    proc = subprocess.run(argv, input=script, capture_output=True, text=True)
    if proc.returncode != 0 and not force:
        raise LabError(f"ip failed: {proc.stderr.strip()}", hint="tk lab needs root and iproute2")


def mac(octet: int, index: int) -> str:
    """A fixed MAC per lab address: a restarted host keeps it, so no neighbour cache goes stale."""
    return f"02:74:6b:{octet:02x}:{index >> 8:02x}:{index & 255:02x}"


def bridge_commands(bridge: str, gateway: str, octet: int) -> List[str]:
    return [
        f"link add {bridge} address {mac(octet, 0)} type bridge",
        f"addr add {gateway}/24 dev {bridge}",
        f"link set {bridge} up",
    ]


def host_commands(netns: str, veth: str, bridge: str, address: str) -> List[str]:
    """Create the host's netns and a veth whose peer is `eth0` inside it, plugged in the bridge."""
    return [
        f"netns add {netns}",
        f"link add {veth} type veth peer name eth0 address {address} netns {netns}",
        f"link set {veth} master {bridge} up",
    ]


def remove_host_commands(netns: str, veth: str) -> List[str]:
    return [f"link del {veth}", f"netns del {netns}"]


def link_exists(name: str) -> bool:
    return os.path.exists(os.path.join("/sys/class/net", name))


def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def netns_pids(names: Iterable[str]) -> Dict[str, List[int]]:
    """PIDs of the processes living in each named network namespace (one scan of /proc)."""
    inodes = {}
    for name in names:
        try:
            st = os.stat(os.path.join(NETNS_DIR, name))
        except FileNotFoundError:
            continue
        inodes[(st.st_dev, st.st_ino)] = name
    found: Dict[str, List[int]] = {name: [] for name in inodes.values()}
    if not inodes:
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        name = inodes.get((st.st_dev, st.st_ino))
        if name:
            found[name].append(int(entry))
    return found


def list_netns(prefix: str) -> List[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []
