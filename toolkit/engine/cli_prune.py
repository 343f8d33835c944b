"""`tke container prune` and `tke system prune`: remove what nothing uses, as docker's (its
prompt unless -f, its "Deleted ..." sections and "Total reclaimed space")."""

from __future__ import annotations

import argparse

from toolkit.engine.cli import Context, Registrar

SYSTEM_WARNING = "This will remove:\n  - all stopped containers\n  - all {images}{volumes}\n"


def register(reg: Registrar) -> None:
    p = reg.verb(None, container_prune, "Remove all stopped containers", group="container",
                 group_name="prune")  # fmt: skip
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")

    p = reg.verb(None, system_prune, "Remove unused data", group="system", group_name="prune")
    p.add_argument("-a", "--all", action="store_true", help="all unused images, not only dangling")
    p.add_argument("--volumes", action="store_true", help="also anonymous volumes not in use")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")


def container_prune(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine.humanize import size

    if not args.force and not ctx.confirm("This will remove all stopped containers."):
        return 0
    ctx.out.write(f"Total reclaimed space: {size(prune_containers(ctx))}\n")
    return 0


def prune_containers(ctx: Context) -> int:
    """Remove every container that is not running, paused or restarting, listing them; the
    bytes their writable layers held."""
    from toolkit.engine import lifecycle, rootfs
    from toolkit.engine.containers import Containers
    from toolkit.engine.volumes import tree_size

    ctrs, removed, freed = Containers(ctx.store), [], 0
    for cid in ctrs.ids():
        state = ctrs.state(cid)
        if state["Running"] or state["Restarting"]:
            continue
        used = tree_size(rootfs.upper_dir(ctrs.path(cid)))
        lifecycle.remove(ctrs, cid)
        removed.append(cid)
        freed += used
    if removed:
        ctx.out.write("Deleted Containers:\n" + "".join(c + "\n" for c in removed) + "\n")
    return freed


def system_prune(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine.cli_images import prune_images
    from toolkit.engine.cli_volumes import prune_volumes
    from toolkit.engine.humanize import size

    images = (
        "images without at least one container associated to them"
        if args.all
        else "dangling images"
    )
    volumes = "\n  - all anonymous volumes not used by at least one container" * args.volumes
    if not args.force and not ctx.confirm(SYSTEM_WARNING.format(images=images, volumes=volumes)):
        return 0
    freed = prune_containers(ctx)
    if args.volumes:
        freed += prune_volumes(ctx, named_too=False)
    freed += prune_images(ctx, args.all)
    ctx.out.write(f"Total reclaimed space: {size(freed)}\n")
    return 0
