"""`tke network` verbs: ls and inspect of docker's three built-in networks (bridge, host,
none); the bridge's address range and its running containers come from network.py."""

from __future__ import annotations

import argparse
import hashlib

from toolkit.engine.cli import Context, Registrar, inspect_each

DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}


# register() touches nothing but reg.verb(): cli.py may build only the verb being run.
VERB_FILTER_SAFE = True


def register(reg: Registrar) -> None:
    p = reg.verb(None, network_ls, "List networks", group="network", group_name="ls")
    p.add_argument("-q", "--quiet", action="store_true", help="only display network IDs")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate the output")
    p = reg.verb(
        None, network_inspect, "Display detailed information on networks", group="network",
        group_name="inspect",
    )  # fmt: skip
    p.add_argument("-f", "--format", default=None, help="format output with a Go template")
    p.add_argument("names", nargs="+", metavar="NETWORK")
    reg.inspector("network", _find_network)


def network_id(name: str) -> str:
    """A network's ID: stable per name (there are only the built-in ones)."""
    return hashlib.sha256(f"tke network {name}".encode()).hexdigest()


def network_ls(ctx: Context, args: argparse.Namespace) -> int:
    width = 64 if args.no_trunc else 12
    rows = [(network_id(name)[:width], name, driver) for name, driver in sorted(DRIVERS.items())]
    if args.quiet:
        ctx.out.write("".join(row[0] + "\n" for row in rows))
        return 0
    ctx.out.write(f"{'NETWORK ID':<{width + 3}}{'NAME':<10}{'DRIVER':<10}SCOPE\n")
    for nid, name, driver in rows:
        ctx.out.write(f"{nid:<{width + 3}}{name:<10}{driver:<10}local\n")
    return 0


def network_inspect(ctx: Context, args: argparse.Namespace) -> int:
    return inspect_each(ctx, args.names, _find_network, "network", args.format)


def _find_network(ctx: Context, name: str):
    wanted = next((n for n in DRIVERS if name in (n, network_id(n)) or (
        len(name) >= 3 and network_id(n).startswith(name))), None)  # fmt: skip
    if wanted is None:
        return None
    from toolkit.engine import network
    from toolkit.engine.containers import Containers

    subnet = network.recorded_subnet(ctx.store) if wanted == "bridge" else None
    members = network.members(Containers(ctx.store)) if wanted == "bridge" else {}
    return {
        "Name": wanted,
        "Id": network_id(wanted),
        "Scope": "local",
        "Driver": DRIVERS[wanted],
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": [subnet] if subnet else []},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "Containers": members,
        "Options": {"com.docker.network.bridge.name": network.BRIDGE} if subnet else {},
        "Labels": {},
    }
