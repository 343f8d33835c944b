"""`tke` transfer verbs: save, load, import, search."""

from __future__ import annotations

import argparse
import json
import os
import sys

from toolkit.engine.cli import Context, Registrar
from toolkit.errors import TkError, UsageError

FORMATS = ("docker-archive", "oci-archive", "oci-dir")


def register(reg: Registrar) -> None:
    p = reg.verb("save", save, "Save one or more images to a tar archive", group="image")
    p.add_argument("-o", "--output", default=None, help="write to a file (or OCI dir)")
    p.add_argument(
        "--format",
        default="docker-archive",
        choices=FORMATS,
        help="archive format (default docker-archive)",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")

    p = reg.verb("load", load, "Load an image from a tar archive or STDIN", group="image")
    p.add_argument("-i", "--input", default=None, help="read from a tar file or OCI layout dir")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")

    p = reg.verb(
        "import", import_, "Import the contents from a tarball to create an image", group="image"
    )
    p.add_argument(
        "-c",
        "--change",
        action="append",
        default=[],
        help="apply a Dockerfile instruction (CMD, ENV, WORKDIR, EXPOSE, ...)",
    )
    p.add_argument("-m", "--message", default="", help="commit message")
    p.add_argument("--platform", default=None, help="os/arch[/variant] of the image")
    p.add_argument("file", metavar="file|URL|-")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")

    p = reg.verb("search", search, "Search registries for images")
    p.add_argument("--limit", type=int, default=25, help="max number of results")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--format", default=None, help="format output with a Go template")
    p.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        help="stars=N, is-official=true, is-automated=true",
    )
    p.add_argument("term", metavar="TERM")


def save(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import archive

    if args.format == "oci-dir":
        if not args.output:
            raise UsageError("save --format oci-dir needs -o DIRECTORY")
        archive.save_oci_dir(ctx.store, args.images, args.output)
        return 0
    if args.output:
        tmp = args.output + ".tmp"
        try:
            with open(tmp, "wb") as fh:
                archive.save(ctx.store, args.images, fh, args.format)
            os.replace(tmp, args.output)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return 0
    out = getattr(sys.stdout, "buffer", None)
    if out is None or sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    archive.save(ctx.store, args.images, out, args.format)
    out.flush()
    return 0


def load(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import archive

    if args.input:
        if not os.path.exists(args.input):
            raise UsageError(f"load: {args.input}: no such file or directory")
        lines = archive.load(ctx.store, args.input)
    else:
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is empty")
        lines = archive.load(ctx.store, sys.stdin.buffer)
    if not args.quiet:
        ctx.out.write("".join(line + "\n" for line in lines))
    return 0


def import_(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine.commit import commit, open_tarball, parse_changes
    from toolkit.engine.manifests import parse_platform

    changes = parse_changes(args.change)
    if args.platform:
        parse_platform(args.platform)
    if args.file == "-":
        raw = sys.stdin.buffer
    elif "://" in args.file:
        raise UsageError("import from a URL is not supported; download the file first")
    else:
        if not os.path.isfile(args.file):
            raise UsageError(f"import: {args.file}: no such file")
        raw = open(args.file, "rb")
    try:
        record = commit(
            ctx.store,
            open_tarball(raw),
            changes=changes,
            created_by=f"tke import {os.path.basename(args.file)}",
            comment=args.message or "Imported from " + args.file,
            tag=args.reference,
        )
    finally:
        if args.file != "-":
            raw.close()
    ctx.out.write(record["id"] + "\n")
    return 0


# --- search --------------------------------------------------------------------------------
def _split_term(term: str) -> tuple[str, str]:
    first, sep, rest = term.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", term


def _hub_search(ctx: Context, term: str, limit: int) -> list[dict]:
    import urllib.parse

    from toolkit.engine.httpclient import Client

    index = ctx.store.settings().get("index-server", "https://index.docker.io").rstrip("/")
    url = f"{index}/v1/search?" + urllib.parse.urlencode({"q": term, "n": limit})
    resp = Client().request("GET", url)
    body = resp.read()
    if resp.status != 200:
        raise TkError(f"search: {index} answered HTTP {resp.status}")
    try:
        results = json.loads(body).get("results") or []
    except ValueError:
        raise TkError(f"search: {index} sent bad JSON") from None
    return [
        {
            "Name": r.get("name", ""),
            "Description": r.get("description") or "",
            "StarCount": int(r.get("star_count") or 0),
            "IsOfficial": bool(r.get("is_official")),
            "IsAutomated": bool(r.get("is_automated")),
        }
        for r in results
    ]


def _catalog_search(ctx: Context, registry: str, term: str, limit: int) -> list[dict]:
    from toolkit.engine.registry import connect

    reg = connect(registry, ctx.store.settings())[-1]
    names = [n for n in reg.catalog() if term.lower() in n.lower()]
    return [
        {
            "Name": f"{registry}/{n}",
            "Description": "",
            "StarCount": 0,
            "IsOfficial": False,
            "IsAutomated": False,
        }
        for n in names[:limit]
    ]


SEARCH_TABLE = "{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}"


def search(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine.humanize import table

    if not 1 <= args.limit <= 100:
        raise UsageError("limit must be between 1 and 100")
    registry, term = _split_term(args.term)
    if registry == "docker.io":
        rows = _hub_search(ctx, term, args.limit)
    else:
        rows = _catalog_search(ctx, registry, term, args.limit)
    for item in args.filter:
        key, _, value = item.partition("=")
        if key == "stars":
            rows = [r for r in rows if r["StarCount"] >= int(value or 0)]
        elif key in ("is-official", "is-automated"):
            field = "IsOfficial" if key == "is-official" else "IsAutomated"
            rows = [r for r in rows if r[field] == (value.lower() == "true")]
        else:
            raise UsageError(f"invalid filter {key!r}", hint="stars, is-official, is-automated")
    if args.format:
        from toolkit.engine.cli_images import _IMAGE_HEADERS, _formatted

        return _formatted(ctx, rows, args.format, _IMAGE_HEADERS, SEARCH_TABLE)
    out_rows = []
    for r in rows:
        desc = r["Description"].replace("\n", " ")
        if not args.no_trunc and len(desc) > 45:
            desc = desc[:44] + "…"
        out_rows.append(
            [
                r["Name"],
                desc,
                str(r["StarCount"]),
                "[OK]" if r["IsOfficial"] else "",
                "[OK]" if r["IsAutomated"] else "",
            ]
        )
    table(ctx.out, ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"], out_rows)
    return 0
