"""`tke` container listing and inspection verbs: ps, logs, inspect, top, port, stats."""

from __future__ import annotations

import argparse
import json
import time

from toolkit.engine.cli import Context, Registrar, inspect_each
from toolkit.engine.humanize import table
from toolkit.errors import TkError, UsageError


def register(reg: Registrar) -> None:
    reg.df_row(_df_containers)
    p = reg.verb("ps", ps, "List containers", group="container", group_name="ls")
    p.add_argument("-a", "--all", action="store_true", help="show all containers")
    p.add_argument("-l", "--latest", action="store_true", help="show the latest created")
    p.add_argument("-n", "--last", type=int, default=-1, help="show n last created")
    p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output")
    p.add_argument("--format", default=None, help="format output with a Go template")

    p = reg.verb("logs", logs, "Fetch the logs of a container", group="container")
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument("-n", "--tail", default="all", help="lines to show from the end")
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument("--since", default=None, help="show logs since (timestamp or 10m)")
    p.add_argument("--until", default=None, help="show logs before (timestamp or 10m)")
    p.add_argument("--details", action="store_true", help="show extra details")
    p.add_argument("container", metavar="CONTAINER")

    p = reg.verb(None, inspect_cmd, "Display detailed information on containers",
                 group="container", group_name="inspect")  # fmt: skip
    p.add_argument("-f", "--format", default=None, help="format output with a Go template")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    reg.inspector("container", find_for_inspect)

    p = reg.verb("top", top, "Display the running processes of a container", group="container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="[ps OPTIONS]")

    p = reg.verb("port", port, "List port mappings of a container", group="container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("private", nargs="?", metavar="PRIVATE_PORT[/PROTO]")

    p = reg.verb("stats", stats, "Display containers' resource usage", group="container")
    p.add_argument("-a", "--all", action="store_true", help="show all containers")
    p.add_argument("--no-stream", action="store_true", help="print one result and exit")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--format", default=None, help="format output with a Go template")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def _size_text(ctx: Context, ctrs, rec: dict) -> str:
    """docker ps -s: the writable layer's size, and with the image's ("virtual")."""
    from toolkit.engine import rootfs
    from toolkit.engine.humanize import size
    from toolkit.engine.volumes import tree_size

    own = tree_size(rootfs.upper_dir(ctrs.path(rec["Id"])))
    return f"{size(own)} (virtual {size(own + _image_bytes(ctx, rec['Image']))})"


def _image_bytes(ctx: Context, image_id: str) -> int:
    """The unpacked size of an image's layers (0 for an image no longer in the store)."""
    from toolkit.engine.images import image_size

    db = ctx.store.load()
    return image_size(db, db["images"].get(image_id) or {"layers": []})


def _df_containers(ctx: Context) -> list:
    """`system df`'s row: containers, the running ones, their writable layers' size and what
    the stopped ones hold (removable)."""
    from toolkit.engine import rootfs
    from toolkit.engine.humanize import size
    from toolkit.engine.volumes import tree_size

    ctrs = _ctrs(ctx)
    total = active = reclaim = count = 0
    for cid in ctrs.ids():
        count += 1
        used = tree_size(rootfs.upper_dir(ctrs.path(cid)))
        total += used
        if ctrs.state(cid)["Running"]:
            active += 1
        else:
            reclaim += used
    pct = f" ({100 * reclaim // total}%)" if total else ""
    return ["Containers", str(count), str(active), size(total), size(reclaim) + pct]


def _ctrs(ctx: Context):
    from toolkit.engine.containers import Containers

    return Containers(ctx.store)


def find_for_inspect(ctx: Context, name: str):
    from toolkit.engine import ctrview
    from toolkit.engine.containers import NoSuchContainer

    ctrs = _ctrs(ctx)
    try:
        return ctrview.inspect(ctrs, ctrs.find(name))
    except NoSuchContainer:
        return None


def inspect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    def find(ctx: Context, name: str):
        found = find_for_inspect(ctx, name)
        return with_sizes(ctx, found) if found is not None and args.size else found

    return inspect_each(ctx, args.containers, find, "container", args.format)


def with_sizes(ctx: Context, info: dict) -> dict:
    """docker inspect --size: SizeRw (the writable layer) and SizeRootFs (with the image's)."""
    from toolkit.engine.volumes import tree_size

    own = tree_size(info["GraphDriver"]["Data"]["UpperDir"])
    return dict(info, SizeRw=own, SizeRootFs=own + _image_bytes(ctx, info["Image"]))


# --- ps -------------------------------------------------------------------------------------
def _image_names(ctx: Context) -> dict:
    db = ctx.store.load()
    names: dict = {}
    for tag, image_id in sorted(db["tags"].items()):
        names.setdefault(image_id, familiar(tag))
    return names


def familiar(tag: str) -> str:
    """docker's short form of a full reference (docker.io/library/busybox:latest -> busybox)."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if tag.startswith(prefix):
            tag = tag[len(prefix) :]
            break
    return tag[: -len(":latest")] if tag.endswith(":latest") else tag


def ps(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import ctrview

    ctrs = _ctrs(ctx)
    filters = ctrview.parse_filters(args.filter)
    last = 1 if args.latest else args.last
    names = _image_names(ctx)
    by_name = {v: k for k, v in names.items()}
    items = []
    for cid in ctrs.ids():
        rec = ctrs.record(cid)
        if rec is None:
            continue
        state = ctrs.state(cid)
        if ctrview.orphaned_autoremove(rec, state):
            _remove_quietly(ctrs, cid)
            continue
        items.append((rec, state))
    items.sort(key=lambda it: it[0]["Created"], reverse=True)
    if last >= 0:
        items = items[:last]
    rows = []
    for rec, state in items:
        if not (args.all or last >= 0 or filters) and state["Status"] not in (
            "running",
            "paused",
            "restarting",
        ):
            continue
        if not ctrview.matches(ctrs, rec, state, filters, by_name):
            continue
        shown = rec["Config"].get("Image") or names.get(rec["Image"]) or rec["Image"][7:19]
        if rec["Config"].get("Image") and names.get(rec["Image"]) is None:
            shown = rec["Image"][7:19] if not args.no_trunc else rec["Image"]
        rows.append(ctrview.ps_row(ctrs, rec, state, not args.no_trunc, shown))
        if args.size:
            rows[-1]["Size"] = _size_text(ctx, ctrs, rec)
    if args.quiet:
        for row in rows:
            ctx.out.write(row["ID"] + "\n")
        return 0
    if args.format:
        from toolkit.engine.rowformat import write_rows

        write_rows(ctx.out, rows, args.format, ctrview.PS_HEADERS, ctrview.PS_TABLE)
        return 0
    cols = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
    cols += ["Size"] if args.size else []
    header = [ctrview.PS_HEADERS[c] for c in cols]
    table(ctx.out, header, [[row[c] for c in cols] for row in rows])
    return 0


def _remove_quietly(ctrs, cid: str) -> None:
    from toolkit.engine import lifecycle

    try:
        lifecycle.remove(ctrs, cid, force=True)
    except (TkError, OSError):
        pass


# --- logs -----------------------------------------------------------------------------------
def logs(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import logs as logmod
    from toolkit.engine.attach import _write
    from toolkit.engine.logconfig import files as logfiles

    ctrs = _ctrs(ctx)
    cid = ctrs.find(args.container)
    rec = ctrs.record(cid)
    tail = None
    if args.tail != "all":
        try:
            tail = int(args.tail)
        except ValueError:
            raise UsageError(f"invalid value for --tail: {args.tail!r}") from None
    since = logmod.parse_since(args.since)
    until = logmod.parse_since(args.until)

    def alive() -> bool:
        state = ctrs.state(cid)
        return state["Running"] or state["Restarting"]

    follow = alive if args.follow else None
    out_stream = getattr(ctx.out, "buffer", None) and ctx.out
    conf = rec["HostConfig"].get("LogConfig") or {"Type": "json-file"}
    if conf["Type"] == "none":
        raise TkError(
            "Error response from daemon: configured logging driver does not support reading"
        )
    paths = logfiles(rec["LogPath"], conf)
    for entry in logmod.read(paths, tail, since, until, follow):
        text = entry.get("log", "")
        if args.timestamps:
            text = f"{entry.get('time', '')} {text}"
        stream = ctx.err if entry.get("stream") == "stderr" else (out_stream or ctx.out)
        _write(stream, text.encode())
    return 0


# --- top, port, stats -----------------------------------------------------------------------
def _pids(ctrs, cid: str) -> list:
    from toolkit.engine import lifecycle

    state = ctrs.state(cid)
    if not state["Running"]:
        raise TkError(f"Error response from daemon: Container {cid} is not running")
    rt = lifecycle.runtime_of(ctrs, cid)
    proc = rt.run("ps", "--format", "json", cid, check=False)
    try:
        pids = json.loads(proc.stdout) if proc.returncode == 0 else None
    except ValueError:
        pids = None
    return pids or [state["Pid"]]


def top(ctx: Context, args: argparse.Namespace) -> int:
    ctrs = _ctrs(ctx)
    cid = ctrs.find(args.container)
    pids = _pids(ctrs, cid)
    ps_args = args.ps_args or ["-ef"]
    import subprocess

    proc = subprocess.run(["ps", *ps_args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise TkError(f"Error response from daemon: ps: {proc.stderr.strip()}")
    lines = proc.stdout.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise TkError("Error response from daemon: Couldn't find PID field in ps output")
    col = header.index("PID")
    rows = [header]
    for line in lines[1:]:
        fields = line.split(None, len(header) - 1)
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
            rows.append(fields)
    table(ctx.out, rows[0], rows[1:])
    return 0


def port(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import ctrview

    ctrs = _ctrs(ctx)
    rec = ctrs.record(ctrs.find(args.container))
    ports = ctrview.network_settings(ctrs, rec).get("Ports") or {}
    want = args.private
    if want and "/" not in want:
        want += "/tcp"
    found = False
    for name, binds in sorted(ports.items()):
        if want and name != want:
            continue
        for b in binds or []:
            found = True
            addr = f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}"
            ctx.out.write(addr + "\n" if want else f"{name} -> {addr}\n")
    if want and not found:
        raise TkError(f"Error: No public port '{want}' published for {rec['Id'][:12]}")
    return 0


def stats(ctx: Context, args: argparse.Namespace) -> int:
    """One sample with --no-stream; otherwise a new one every second until interrupted (the
    screen redrawn on a terminal, as docker's), or until the containers named are gone."""
    from toolkit.engine import cgroups
    from toolkit.engine.rowformat import write_rows

    ctrs = _ctrs(ctx)
    named = [ctrs.find(n) for n in args.containers]
    before = {cid: cgroups.stats(cid) for cid in named or ctrs.ids()}
    t0 = time.monotonic()
    redraw = not args.no_stream and ctx.isatty()
    try:
        while True:
            time.sleep(0.5 if args.no_stream else 1.0)
            now = time.monotonic()
            rows, before = _stats_rows(ctrs, named, args, before, now - t0)
            t0 = now
            if redraw:
                ctx.out.write("\033[2J\033[H")
            write_rows(ctx.out, rows, args.format or "table", STATS_HEADERS, STATS_TABLE)
            ctx.out.flush()
            if args.no_stream or (named and not rows):
                return 0
    except KeyboardInterrupt:
        return 0


def _stats_rows(ctrs, named: list, args: argparse.Namespace, before: dict, elapsed: float):
    """The rows of one sample and the counters for the next."""
    from toolkit.engine import cgroups

    rows, counters = [], {}
    host_mem = cgroups.host_memory()
    for cid in named or ctrs.ids():
        rec = ctrs.record(cid)
        if rec is None:
            continue
        state = ctrs.state(cid)
        if not state["Running"] and not args.all and not named:
            continue
        idle = {"mem": 0, "mem_limit": 0, "cpu_ns": 0, "pids": 0}
        now = cgroups.stats(cid) if state["Running"] else idle
        counters[cid] = now
        last = before.get(cid, now)
        cpu = max(now["cpu_ns"] - last["cpu_ns"], 0) / (elapsed * 1e9) * 100
        limit = now["mem_limit"] or host_mem
        rows.append(
            {
                "ID": cid if args.no_trunc else cid[:12],
                "Container": cid[:12],
                "Name": rec["Name"].lstrip("/"),
                "CPUPerc": f"{cpu:.2f}%",
                "MemUsage": f"{_bin(now['mem'])} / {_bin(limit)}",
                "MemPerc": f"{(now['mem'] / limit * 100 if limit else 0):.2f}%",
                "NetIO": "0B / 0B",
                "BlockIO": "0B / 0B",
                "PIDs": str(now["pids"]),
            }
        )
    return rows, counters


STATS_HEADERS = {
    "ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}  # fmt: skip
STATS_TABLE = "\t".join(
    "{{." + f + "}}"
    for f in ("ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")
)


def _bin(value: float) -> str:
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    i = 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024.0
        i += 1
    return f"{value:.4g}{units[i]}"
