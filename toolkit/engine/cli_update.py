"""`tke update` (`tke container update`): docker's flags for a container's resource limits and
restart policy; the work is update.py's."""

from __future__ import annotations

import argparse

from toolkit.engine.cli import Context, Registrar
from toolkit.engine.cli_containers import (
    CreateFailed,
    _ctrs,
    _nano_cpus,
    parse_restart,
    parse_size,
)
from toolkit.errors import TkError

# register() touches nothing but reg.verb(): cli.py may build only the verb being run.
VERB_FILTER_SAFE = True


def register(reg: Registrar) -> None:
    p = reg.verb(
        "update", update, "Update configuration of one or more containers", group="container"
    )
    p.add_argument("-m", "--memory", default=None, help="memory limit (e.g. 64m)")
    p.add_argument("--cpus", default=None, help="number of CPUs (e.g. 0.5)")
    p.add_argument("-c", "--cpu-shares", type=int, default=None, help="CPU shares (weight)")
    p.add_argument("--pids-limit", type=int, default=None, help="pids limit (-1: unlimited)")
    p.add_argument("--restart", default=None, help="restart policy (no, on-failure[:N], ...)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def changes_from(args: argparse.Namespace) -> dict:
    """The HostConfig changes the flags ask for (docker's names and units)."""
    changes: dict = {}
    if args.memory is not None:
        changes["Memory"] = parse_size(args.memory, "--memory")
        if changes["Memory"] and changes["Memory"] < 6 << 20:
            raise CreateFailed("Minimum memory limit allowed is 6MB")
    if args.cpus is not None:
        changes["NanoCpus"] = _nano_cpus(args.cpus)
    if args.cpu_shares is not None:
        changes["CpuShares"] = args.cpu_shares
    if args.pids_limit is not None:
        changes["PidsLimit"] = -1 if args.pids_limit <= 0 else args.pids_limit
    if args.restart is not None:
        changes["RestartPolicy"] = parse_restart(args.restart)
    if not changes:
        raise CreateFailed("You must provide one or more flags when using this command.")
    return changes


def update(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import update as update_mod

    changes = changes_from(args)
    ctrs = _ctrs(ctx)
    rc = 0
    for name in args.containers:
        try:
            update_mod.apply(ctrs, ctrs.find(name), changes)
            ctx.out.write(name + "\n")
        except TkError as exc:
            ctx.err.write(exc.message + "\n")
            rc = 1
    return rc
