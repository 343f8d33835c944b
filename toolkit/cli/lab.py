"""`tk lab up N | down | status`: throw-away local SSH hosts for demos and tests (needs root)."""

from __future__ import annotations

import argparse
import os
import time

from toolkit.lab import Lab, LabState
from toolkit.lab.state import lab_root
from toolkit.lab.systemd import SystemdLab, open_lab


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = sub.add_parser("up", help="make (or reconcile) a lab of N hosts")
    up.add_argument("count", type=int, metavar="N", help="number of hosts")
    up.add_argument(
        "--systemd", action="store_true", help="booted hosts: systemd as PID 1 (systemd-nspawn)"
    )
    up.add_argument(
        "--os", dest="os_name", choices=("centos", "debian"), default=None,
        help="with --systemd: CentOS Stream 9 stand-in (default) or Debian 12",
    )  # fmt: skip
    down = sub.add_parser("down", help="remove a lab and everything it made")
    status = sub.add_parser("status", help="show labs and their hosts")
    for p in (up, down, status):
        p.add_argument("--name", default=None, help="lab name (default: lab; status: all)")
        p.add_argument(
            "--root", default=None, help="lab root dir (default $TK_LAB_ROOT or /run/tk-lab)"
        )


def run(args: argparse.Namespace) -> int:
    if args.action == "up":
        if args.systemd or args.os_name:
            lab = SystemdLab(args.name or "lab", args.root, args.os_name or "")
            lab.log = print
            return _up(lab, args.count)
        return _up(Lab(args.name or "lab", args.root), args.count)
    if args.action == "down":
        lab = open_lab(args.name or "lab", args.root)
        existed = os.path.exists(lab.directory)
        start = time.monotonic()
        lab.down()
        took = time.monotonic() - start
        print(
            f"lab {lab.name!r} removed ({took:.2f}s)" if existed else f"lab {lab.name!r} is not up"
        )
        return 0
    return _status(args.name, args.root)


def _up(lab: Lab, count: int) -> int:
    start = time.monotonic()
    state = lab.up(count)
    took = time.monotonic() - start
    print(f"lab {lab.name!r}: {len(state.hosts)} hosts up ({took:.2f}s)")
    for host in state.hosts:
        print(f"  {host.name:<16} {host.address}")
    print(f"inventory:  {lab.inventory}")
    print(f"ssh config: {lab.ssh_config}   (ssh -F {lab.ssh_config} {state.hosts[0].name})")
    return 0


def _status(name: str, root: str) -> int:
    base = lab_root(root)
    names = [name] if name else sorted(os.listdir(base)) if os.path.isdir(base) else []
    shown = 0
    for entry in names:
        if LabState.load(os.path.join(base, entry)) is None:
            continue
        lab = open_lab(entry, root)
        rows = lab.status()
        running = sum(1 for r in rows if r["running"])
        print(f"lab {entry!r}: {running}/{len(rows)} hosts running  ({lab.inventory})")
        for row in rows:
            print(f"  {row['name']:<16} {row['address']:<15} {'up' if row['running'] else 'DOWN'}")
        shown += 1
    if not shown:
        print("no lab is up" if not name else f"lab {name!r} is not up")
    return 0
