"""`tke` image verbs: pull, push, images, rmi, tag, history, inspect, search, save, load, import,
login, logout, image prune, system df. Flag names and output columns follow docker's."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Optional

from toolkit.engine.cli import Context, Registrar, inspect_each
from toolkit.errors import TkError, UsageError

# register() touches nothing but reg.verb(): cli.py may build only the verb being run.
VERB_FILTER_SAFE = True

# Handlers import their modules when they run: `tke --help` and each verb load only what they
# need (start-up time is most of a small pull).


def register(reg: Registrar) -> None:
    p = reg.verb("pull", pull, "Download an image from a registry", group="image")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("--platform", default=None, help="os/arch[/variant] to pull")
    p.add_argument("-a", "--all-tags", action="store_true", help="download all tagged images")
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")

    p = reg.verb("push", push, "Upload an image to a registry", group="image")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("-a", "--all-tags", action="store_true", help="push all tags of the repository")
    p.add_argument("--chunk-size", type=int, default=0, help="upload blobs in chunks of N bytes")
    p.add_argument("name", metavar="NAME[:TAG]")

    p = reg.verb("images", images_ls, "List images", group="image", group_name="ls")
    p.add_argument("-a", "--all", action="store_true", help="show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--format", default=None, help="format output with a Go template")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter (dangling=true)")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")

    p = reg.verb("rmi", rmi, "Remove one or more images", group="image", group_name="rm")
    p.add_argument("-f", "--force", action="store_true", help="force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="do not delete untagged parents")
    p.add_argument("images", nargs="+", metavar="IMAGE")

    p = reg.verb("tag", tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", group="image")
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")

    p = reg.verb("history", history, "Show the history of an image", group="image")
    p.add_argument("-H", "--human", default="true", help="sizes and dates in human format")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--format", default=None, help="format output with a Go template")
    p.add_argument("image", metavar="IMAGE")

    p = reg.verb(
        None,
        image_inspect,
        "Display detailed information on images",
        group="image",
        group_name="inspect",
    )
    p.add_argument("-f", "--format", default=None, help="format output with a Go template")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    reg.inspector("image", _find_image)

    p = reg.verb(None, image_prune, "Remove unused images", group="image", group_name="prune")
    p.add_argument("-a", "--all", action="store_true", help="remove all unused images")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")

    p = reg.verb(None, system_df, "Show tke disk usage", group="system", group_name="df")
    p.add_argument("-v", "--verbose", action="store_true", help="show detailed information")
    p = reg.verb(
        None,
        system_check,
        "Verify every blob digest and reference in the store",
        group="system",
        group_name="check",
    )
    reg.df_row(_df_images)

    p = reg.verb("login", login, "Log in to a registry")
    p.add_argument("-u", "--username", default=None)
    p.add_argument("-p", "--password", default=None)
    p.add_argument("--password-stdin", action="store_true", help="take the password from stdin")
    p.add_argument("server", nargs="?", default="docker.io")

    p = reg.verb("logout", logout, "Log out from a registry")
    p.add_argument("server", nargs="?", default="docker.io")

    from toolkit.engine import cli_transfer

    cli_transfer.register(reg)


def _store(ctx: Context):
    return ctx.store


# --- pull ----------------------------------------------------------------------------------
def pull(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine.manifests import parse_platform
    from toolkit.engine.reference import parse

    given = parse(args.name, default_tag=False)
    platform = parse_platform(args.platform) if args.platform else None
    if not args.all_tags:
        ref = parse(args.name)
        if not args.quiet and given.tag is None and given.digest is None:
            ctx.out.write("Using default tag: latest\n")
        _pull_one(ctx, ref, platform, args.quiet)
        ctx.out.write(f"{ref}\n")
        return 0
    if given.tag is not None or given.digest is not None:
        raise UsageError("tag can't be used with --all-tags/-a")
    from toolkit.engine.registry import connect

    tags = connect(given.registry, ctx.store.settings())[0].tags(given.repository)
    if not tags:
        raise TkError(f"Error response from daemon: no tags in {given.name}")
    for tag in sorted(tags):
        _pull_one(ctx, parse(f"{given.name}:{tag}"), platform, args.quiet)
    ctx.out.write(f"{given.name}\n")
    return 0


def _pull_one(ctx: Context, ref, platform, quiet: bool) -> None:
    from toolkit.engine.pull import pull as do_pull

    progress = None
    if not quiet:
        ctx.out.write(f"{ref.digest or ref.tag}: Pulling from {ref.repository}\n")
        ctx.out.flush()
        from toolkit.engine.progress import LayerProgress

        progress = LayerProgress(ctx.out, ctx.isatty())
    result = do_pull(ctx.store, ref, platform, progress)
    if progress is not None:
        progress.finish()
        ctx.out.write(f"Digest: {result['digest']}\n")
        ctx.out.write(pull_status(ref, result) + "\n")


def pull_status(ref, result: dict) -> str:
    """docker's last word on a pull: something new came, or nothing did."""
    if result.get("new", True):
        return f"Status: Downloaded newer image for {ref.familiar}"
    return f"Status: Image is up to date for {ref.familiar}"


def push(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine.reference import parse

    given = parse(args.name, default_tag=False)
    if not args.all_tags:
        _push_one(ctx, parse(args.name), args, show_repo=True)
        return 0
    if given.tag is not None or given.digest is not None:
        raise UsageError("tag can't be used with --all-tags/-a")
    prefix = given.name + ":"
    tags = sorted(t[len(prefix) :] for t in ctx.store.load()["tags"] if t.startswith(prefix))
    if not tags:
        raise TkError(f"An image does not exist locally with the tag: {given.familiar}")
    for i, tag in enumerate(tags):
        _push_one(ctx, parse(f"{given.name}:{tag}"), args, show_repo=i == 0)
    return 0


def _push_one(ctx: Context, ref, args: argparse.Namespace, show_repo: bool) -> None:
    from toolkit.engine.progress import LayerProgress
    from toolkit.engine.push import push as do_push

    progress = None if args.quiet else LayerProgress(ctx.out, ctx.isatty())
    if progress is not None and show_repo:
        ctx.out.write(f"The push refers to repository [{ref.name}]\n")
    result = do_push(ctx.store, ref, progress, chunk_size=args.chunk_size)
    if progress is not None:
        progress.finish()
        ctx.out.write(f"{ref.tag}: digest: {result['digest']} size: {result['size']}\n")
    else:
        ctx.out.write(f"{ref}\n")


# --- listing -------------------------------------------------------------------------------
def images_ls(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import imageview
    from toolkit.engine.humanize import table

    db = ctx.store.load()
    rows = imageview.list_rows(ctx.store, db, args.repository)
    for item in args.filter:
        key, _, value = item.partition("=")
        if key == "dangling":
            want = value.lower() in ("true", "1")
            rows = [
                r for r in rows if (r["Tag"] == "<none>" and r["Repository"] == "<none>") == want
            ]
        elif key == "reference":
            rows = [r for r in rows if _matches(r, value)]
        else:
            raise UsageError(f"invalid filter {key!r}", hint="supported: dangling, reference")
    for row in rows:
        row["ID"] = row["ID"] if args.no_trunc else row["ID"][7:19]
    if args.quiet:
        seen = []
        for row in rows:
            if row["ID"] not in seen:
                seen.append(row["ID"])
        ctx.out.write("".join(i + "\n" for i in seen))
        return 0
    if args.format:
        return _formatted(ctx, rows, args.format, _IMAGE_HEADERS, IMAGES_TABLE)
    header = (
        ["REPOSITORY", "TAG"]
        + (["DIGEST"] if args.digests else [])
        + ["IMAGE ID", "CREATED", "SIZE"]
    )
    table(
        ctx.out,
        header,
        [
            [r["Repository"], r["Tag"]]
            + ([r["Digest"]] if args.digests else [])
            + [r["ID"], r["CreatedSince"], r["Size"]]
            for r in rows
        ],
    )
    return 0


IMAGES_TABLE = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
HISTORY_TABLE = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
_IMAGE_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "ID": "IMAGE ID",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "CreatedBy": "CREATED BY",
    "Comment": "COMMENT",
    "Name": "NAME",
    "Description": "DESCRIPTION",
    "StarCount": "STARS",
    "IsOfficial": "OFFICIAL",
    "IsAutomated": "AUTOMATED",
    "Containers": "CONTAINERS",
}


def _matches(row: dict, pattern: str) -> bool:
    import fnmatch

    name = f"{row['Repository']}:{row['Tag']}"
    return fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(row["Repository"], pattern)


def _formatted(ctx: Context, rows: list, fmt: str, headers: dict, default: str = "") -> int:
    from toolkit.engine.rowformat import write_rows

    write_rows(ctx.out, rows, fmt, headers, default)
    return 0


def rmi(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import images as imagedb

    rc = 0
    for name in args.images:
        try:
            lines = imagedb.remove(ctx.store, name, force=args.force)
        except (imagedb.ImageNotFound, imagedb.ImageConflict) as exc:
            ctx.err.write(f"Error response from daemon: {exc.message}\n")
            rc = 1
            continue
        ctx.out.write("".join(line + "\n" for line in lines))
    return rc


def tag(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import images as imagedb

    imagedb.tag(ctx.store, args.source, args.target)
    return 0


def history(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import images as imagedb
    from toolkit.engine import imageview
    from toolkit.engine.humanize import table

    db = ctx.store.load()
    image_id = imagedb.find(db, args.image)
    rows = imageview.history(ctx.store, db, image_id)
    human = str(args.human).lower() not in ("false", "0")
    for row in rows:
        if row["ID"] != "<missing>" and not args.no_trunc:
            row["ID"] = row["ID"][7:19]
        if not human:
            row["Size"] = str(row["SizeBytes"])
            row["CreatedSince"] = row["CreatedAt"]
        if not args.no_trunc and len(row["CreatedBy"]) > 45:
            row["CreatedBy"] = row["CreatedBy"][:44] + "…"
    if args.quiet:
        ctx.out.write("".join(r["ID"] + "\n" for r in rows))
        return 0
    if args.format:
        return _formatted(ctx, rows, args.format, _IMAGE_HEADERS, HISTORY_TABLE)
    table(
        ctx.out,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        [[r["ID"], r["CreatedSince"], r["CreatedBy"], r["Size"], r["Comment"]] for r in rows],
    )
    return 0


def _find_image(ctx: Context, name: str) -> Optional[dict]:
    from toolkit.engine import images as imagedb
    from toolkit.engine import imageview

    db = ctx.store.load()
    try:
        image_id = imagedb.find(db, name)
    except (imagedb.ImageNotFound, UsageError):
        return None
    return imageview.inspect(ctx.store, db, image_id)


def image_inspect(ctx: Context, args: argparse.Namespace) -> int:
    return inspect_each(ctx, args.images, _find_image, "image", args.format)


def image_prune(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine.humanize import size

    what = (
        "This will remove all images without at least one container associated to them."
        if args.all
        else "This will remove all dangling images."
    )
    if not args.force and not ctx.confirm(what):
        return 0
    freed = prune_images(ctx, args.all)
    ctx.out.write(f"Total reclaimed space: {size(freed)}\n")
    return 0


def prune_images(ctx: Context, all_images: bool) -> int:
    """Remove dangling (or, with all_images, unused) images, listing them; bytes freed."""
    from toolkit.engine import images as imagedb

    lines, freed = imagedb.prune(ctx.store, all_images=all_images)
    if lines:
        ctx.out.write("Deleted Images:\n" + "".join(_lower_verb(x) + "\n" for x in lines) + "\n")
    return freed["bytes"]


def _lower_verb(line: str) -> str:
    verb, _, rest = line.partition(":")
    return f"{verb.lower()}:{rest}"


def _df_images(ctx: Context) -> list:
    from toolkit.engine.humanize import size

    db = ctx.store.load()
    total = sum(int(m.get("size", 0)) for m in db["layers"].values())
    from toolkit.engine.images import users

    used = users(ctx.store, db)
    active_ids = [i for i in db["images"] if used.get(i)]
    active_layers = {lay["chain_id"] for i in active_ids for lay in db["images"][i]["layers"]}
    reclaim = sum(int(m.get("size", 0)) for c, m in db["layers"].items() if c not in active_layers)
    pct = f" ({100 * reclaim // total}%)" if total else ""
    return [
        "Images",
        str(len(db["images"])),
        str(len(active_ids)),
        size(total),
        size(reclaim) + pct,
    ]


def system_df(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine.cli import build_parser
    from toolkit.engine.humanize import table

    if args.verbose:
        from toolkit.engine import dfverbose

        dfverbose.write(ctx.out, ctx.store)
        return 0
    _, reg = build_parser()
    order = {"Images": 0, "Containers": 1, "Local Volumes": 2}  # docker's
    rows = sorted((fn(ctx) for fn in reg.df_rows), key=lambda row: order.get(row[0], 9))
    table(ctx.out, ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows)
    return 0


def system_check(ctx: Context, args: argparse.Namespace) -> int:
    problems = ctx.store.check()
    for problem in problems:
        ctx.out.write(problem + "\n")
    if not problems:
        ctx.out.write("store is consistent\n")
    return 1 if problems else 0


# --- login ---------------------------------------------------------------------------------
def _registry_name(server: str) -> str:
    server = server.strip()
    for prefix in ("https://", "http://"):
        if server.startswith(prefix):
            server = server[len(prefix) :]
    server = server.split("/", 1)[0]
    if server in ("index.docker.io", "registry-1.docker.io", "docker.io", ""):
        return "docker.io"
    return server


def login(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import auth
    from toolkit.engine.registry import Registry, endpoints_for

    name = _registry_name(args.server)
    user = args.username
    password = args.password
    if args.password_stdin:
        if not user:
            raise UsageError("login: --password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\r\n")
    if not user:
        user = input("Username: ")
    if password is None:
        password = getpass.getpass("Password: ")
    if not user or not password:
        raise UsageError("login: username and password are required")
    if args.password and not args.password_stdin:
        ctx.err.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    settings = ctx.store.settings()
    endpoint = endpoints_for(name, settings)[-1]
    Registry(endpoint, settings, (user, password), name=name).check_login()
    auth.store(name, user, password)
    ctx.out.write("Login Succeeded\n")
    return 0


def logout(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import auth

    name = _registry_name(args.server)
    if auth.erase(name):
        ctx.out.write(f"Removing login credentials for {auth.server_key(name)}\n")
    else:
        ctx.out.write(f"Not logged in to {auth.server_key(name)}\n")
    return 0
