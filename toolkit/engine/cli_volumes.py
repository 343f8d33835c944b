"""`tke volume` verbs: create, ls, inspect, rm, prune (docker's flags and output)."""

from __future__ import annotations

import argparse

from toolkit.engine.cli import Context, Registrar, inspect_each
from toolkit.errors import TkError

# register() touches nothing but reg.verb(): cli.py may build only the verb being run.
VERB_FILTER_SAFE = True


def register(reg: Registrar) -> None:
    p = reg.verb(None, volume_create, "Create a volume", group="volume", group_name="create")
    p.add_argument("-l", "--label", action="append", default=[], help="set metadata")
    p.add_argument("name", nargs="?", default=None, metavar="VOLUME")

    p = reg.verb(None, volume_ls, "List volumes", group="volume", group_name="ls")
    p.add_argument("-q", "--quiet", action="store_true", help="only display volume names")

    p = reg.verb(
        None, volume_inspect, "Display detailed information on volumes", group="volume",
        group_name="inspect",
    )  # fmt: skip
    p.add_argument("-f", "--format", default=None, help="format output with a Go template")
    p.add_argument("names", nargs="+", metavar="VOLUME")
    reg.inspector("volume", _find_volume)

    p = reg.verb(None, volume_rm, "Remove one or more volumes", group="volume", group_name="rm")
    p.add_argument("-f", "--force", action="store_true", help="ignore volumes that do not exist")
    p.add_argument("names", nargs="+", metavar="VOLUME")

    p = reg.verb(None, volume_prune, "Remove unused volumes", group="volume", group_name="prune")
    p.add_argument("-a", "--all", action="store_true", help="also named volumes")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    reg.df_row(_df_volumes)


def _df_volumes(ctx: Context) -> list:
    """`system df`'s row: volumes, those in use, their size and what unused ones hold."""
    from toolkit.engine import lifecycle, volumes
    from toolkit.engine.containers import Containers
    from toolkit.engine.humanize import size

    ctrs, total, active, reclaim = Containers(ctx.store), 0, 0, 0
    names = volumes.names(ctx.store)
    for name in names:
        used = volumes.disk_usage(ctx.store, name)
        total += used
        if lifecycle.volume_users(ctrs, name):
            active += 1
        else:
            reclaim += used
    return ["Local Volumes", str(len(names)), str(active), size(total), size(reclaim)]


def _public(info: dict) -> dict:
    return {k: v for k, v in info.items() if k != "Anonymous"}


def _find_volume(ctx: Context, name: str):
    from toolkit.engine import volumes

    info = volumes.get(ctx.store, name)
    return None if info is None else _public(info)


def volume_create(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import volumes

    labels = dict(item.partition("=")[::2] for item in args.label)
    info = volumes.create(ctx.store, args.name, labels)
    ctx.out.write(info["Name"] + "\n")
    return 0


def volume_ls(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import volumes

    names = volumes.names(ctx.store)
    if args.quiet:
        ctx.out.write("".join(n + "\n" for n in names))
        return 0
    ctx.out.write(f"{'DRIVER':<16}VOLUME NAME\n")
    ctx.out.write("".join(f"{'local':<16}{n}\n" for n in names))
    return 0


def volume_inspect(ctx: Context, args: argparse.Namespace) -> int:
    return inspect_each(ctx, args.names, _find_volume, "volume", args.format)


def volume_rm(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle, volumes
    from toolkit.engine.containers import Containers

    ctrs, rc = Containers(ctx.store), 0
    for name in args.names:
        try:
            if args.force and volumes.get(ctx.store, name) is None:
                continue
            volumes.remove(ctx.store, name, lifecycle.volume_users(ctrs, name))
            ctx.out.write(name + "\n")
        except TkError as exc:
            ctx.err.write(exc.message + "\n")
            rc = 1
    return rc


def volume_prune(ctx: Context, args: argparse.Namespace) -> int:
    """Unused anonymous volumes (all unused volumes with -a), as docker 23+."""
    from toolkit.engine.humanize import size

    what = "all" if args.all else "all anonymous"
    if not args.force and not ctx.confirm(f"This will remove {what} local volumes not used by "
                                          "at least one container."):  # fmt: skip
        return 0
    ctx.out.write(f"Total reclaimed space: {size(prune_volumes(ctx, args.all))}\n")
    return 0


def prune_volumes(ctx: Context, named_too: bool) -> int:
    """Remove the unused anonymous (or all unused) volumes, listing them; bytes freed."""
    from toolkit.engine import lifecycle, volumes
    from toolkit.engine.containers import Containers

    ctrs, removed, freed = Containers(ctx.store), [], 0
    for name in volumes.names(ctx.store):
        info = volumes.get(ctx.store, name) or {}
        if (named_too or info.get("Anonymous")) and not lifecycle.volume_users(ctrs, name):
            freed += volumes.disk_usage(ctx.store, name)
            volumes.remove(ctx.store, name, [])
            removed.append(name)
    if removed:
        ctx.out.write("Deleted Volumes:\n" + "".join(n + "\n" for n in removed) + "\n")
    return freed
