"""`tke` verbs that reach into a container: exec, diff, cp, commit, export."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from toolkit.engine.cli import Context, Registrar
from toolkit.errors import TkError, UsageError


class ExecError(TkError):
    exit_code = 126


def register(reg: Registrar) -> None:
    p = reg.verb("exec", exec_, "Run a command in a running container", group="container")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-d", "--detach", action="store_true", help="run the command in background")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("-w", "--workdir", default=None, help="working directory inside")
    p.add_argument("-u", "--user", default=None, help="username or UID (name|uid[:group|gid])")
    p.add_argument("--privileged", action="store_true", help="extended privileges")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")

    p = reg.verb("diff", diff, "Inspect changes to files on a container's filesystem",
                 group="container")  # fmt: skip
    p.add_argument("container", metavar="CONTAINER")

    p = reg.verb("cp", cp, "Copy files between a container and the local filesystem",
                 group="container")  # fmt: skip
    p.add_argument("-a", "--archive", action="store_true", help="keep uid/gid")
    p.add_argument("-L", "--follow-link", action="store_true", help="follow symlink in SRC")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dest", metavar="DEST")

    p = reg.verb("commit", commit, "Create a new image from a container's changes",
                 group="container")  # fmt: skip
    p.add_argument("-a", "--author", default="", help='author (e.g. "Jo <jo@example.com>")')
    p.add_argument("-c", "--change", action="append", default=[], help="Dockerfile instruction")
    p.add_argument("-m", "--message", default="", help="commit message")
    p.add_argument("-p", "--pause", default="true", help="pause the container during commit")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")

    p = reg.verb("export", export, "Export a container's filesystem as a tar archive",
                 group="container")  # fmt: skip
    p.add_argument("-o", "--output", default=None, help="write to a file instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")


def _ctrs(ctx: Context):
    from toolkit.engine.containers import Containers

    return Containers(ctx.store)


def _binary_out(ctx: Context):
    return getattr(ctx.out, "buffer", None)


# --- exec -----------------------------------------------------------------------------------
def exec_(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle, spec

    if not args.command:
        raise UsageError('"tke exec" requires at least 2 arguments.')
    if args.tty and args.interactive and not args.detach:
        from toolkit.engine.cli_containers import require_tty_stdin

        require_tty_stdin()
    ctrs = _ctrs(ctx)
    cid = ctrs.find(args.container)
    state = ctrs.state(cid)
    if not state["Running"]:
        raise TkError(f"Error response from daemon: Container {cid} is not running")
    if state["Paused"]:
        raise TkError(f"Error response from daemon: Container {cid} is paused, unpause it first")
    with open(ctrs.path(cid, "config.json")) as fh:
        process = json.load(fh)["process"]
    merged = ctrs.path(cid, "merged")
    if args.user is not None:
        uid, gid, extra = spec.resolve_user(merged, args.user)
        process["user"] = {"uid": uid, "gid": gid, "additionalGids": extra}
    env = {e.split("=", 1)[0]: e for e in process["env"]}
    for item in args.env:
        env[item.split("=", 1)[0]] = item if "=" in item else f"{item}={os.environ.get(item, '')}"
    process.update(args=list(args.command), env=list(env.values()))
    process["terminal"] = bool(args.tty and not args.detach)
    process.pop("consoleSize", None)
    if args.workdir:
        process["cwd"] = args.workdir
    if args.privileged:
        process["capabilities"] = {k: spec.ALL_CAPS for k in ("bounding", "effective", "permitted")}
    path = ctrs.path(cid, f"exec-{os.urandom(6).hex()}.json")
    with open(path, "w") as fh:
        json.dump(process, fh)
    rt = lifecycle.runtime_of(ctrs, cid)
    try:
        if args.detach:
            return _run_detached(rt, path, cid)
        return _run_exec(ctx, rt.argv("exec", "--process", path, cid), args)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _run_detached(rt, process_path: str, cid: str) -> int:
    """`exec -d`: the process gets /dev/null for stdio (it inherits the runtime's, and a pipe
    to us would keep this command waiting for it, as docker's does not); the runtime's own
    errors come from its log file."""
    import subprocess

    log = process_path[: -len(".json")] + ".log"
    argv = rt.argv("exec", "--process", process_path, "--detach", cid, log=log)
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
        if proc.returncode != 0:
            with contextlib.suppress(OSError), open(log) as fh:
                raise _exec_failure(fh.read())
            raise _exec_failure("")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(log)
    return 0


def _run_exec(ctx: Context, argv: list, args: argparse.Namespace) -> int:
    import subprocess

    stdin = sys.stdin if args.interactive else subprocess.DEVNULL
    if stdin is sys.stdin and not _has_fd(sys.stdin):
        stdin = subprocess.PIPE
    out = ctx.out if _has_fd(ctx.out) else subprocess.PIPE
    err_pipe = subprocess.PIPE
    data = sys.stdin.read().encode() if stdin is subprocess.PIPE else None
    if out is not subprocess.PIPE:
        ctx.out.flush()
    proc = subprocess.run(argv, stdin=stdin, stdout=out, stderr=err_pipe, input=data)
    errors = proc.stderr.decode(errors="replace")
    if proc.stdout:
        ctx.out.write(proc.stdout.decode(errors="replace"))
    if _runtime_failed(errors):
        raise _exec_failure(errors)
    if errors:
        ctx.err.write(errors)
    return proc.returncode


def _has_fd(stream) -> bool:
    try:
        stream.fileno()
        return True
    except (AttributeError, OSError, ValueError):
        return False


def _runtime_failed(stderr: str) -> bool:
    text = stderr.lower()
    return "exec failed" in text or ("executable file" in text and "not found" in text)


def _exec_failure(stderr: str) -> ExecError:
    """docker exits 126 when the runtime cannot start the command ("OCI runtime exec failed")."""
    from toolkit.engine.runtime import _message

    return ExecError(f"OCI runtime exec failed: {_message(stderr) or 'exec failed'}")


# --- diff, cp, export, commit -------------------------------------------------------------
def diff(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import ctrfs

    ctrs = _ctrs(ctx)
    cid = ctrs.find(args.container)
    for kind, path in ctrfs.changes(ctrs.path(cid)):
        ctx.out.write(f"{kind} {path}\n")
    return 0


def cp(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import ctrfs

    src_ctr, src_path = _split(args.src)
    dst_ctr, dst_path = _split(args.dest)
    if (src_ctr is None) == (dst_ctr is None):
        raise UsageError(
            "copying between containers is not supported"
            if src_ctr
            else "must specify at least one container source"
        )
    ctrs = _ctrs(ctx)
    cid = ctrs.find(src_ctr or dst_ctr)
    with ctrfs.mounted(ctrs, cid) as merged:
        # the container's own view: its volumes, binds and /etc files over the rootfs
        view = ctrfs.view_of(merged, ctrs.record(cid) or {"Mounts": [], "HostConfig": {}})
        if src_ctr is not None:
            if dst_path == "-":
                ctrfs.tar_out(
                    view, src_path, _binary_out(ctx) or sys.stdout.buffer, args.follow_link
                )
            else:
                ctrfs.copy_out(view, src_path, dst_path, args.follow_link)
        elif src_path == "-":
            ctrfs.tar_in(view, dst_path, sys.stdin.buffer)
        else:
            ctrfs.copy_in(view, src_path, dst_path, keep_owner=args.archive)
    return 0


def _split(arg: str):
    if arg.startswith("/") or arg.startswith(".") or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return name, path or "/"


def export(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import ctrfs
    from toolkit.engine.layers import write_layer

    ctrs = _ctrs(ctx)
    cid = ctrs.find(args.container)
    if not args.output and _binary_out(ctx) is not None and ctx.out.isatty():
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    with ctrfs.mounted(ctrs, cid) as merged:
        if args.output:
            tmp = args.output + f".tmp-{os.getpid()}"
            with open(tmp, "wb") as fh:
                write_layer(merged, fh)
            os.replace(tmp, args.output)
        else:
            write_layer(merged, _binary_out(ctx) or sys.stdout.buffer)
    return 0


def commit(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import commit as commit_mod
    from toolkit.engine import lifecycle

    ctrs = _ctrs(ctx)
    cid = ctrs.find(args.container)
    rec = ctrs.record(cid)
    changes = commit_mod.parse_changes(args.change)
    state = ctrs.state(cid)
    paused_here = False
    if args.pause != "false" and state["Running"] and not state["Paused"]:
        lifecycle.pause(ctrs, cid)
        paused_here = True
    try:
        image = commit_mod.commit_dir(
            ctx.store,
            ctrs.path(cid, "upper"),
            parent=rec["Image"],
            changes=changes,
            created_by=" ".join([rec["Path"], *rec["Args"]]),
            comment=args.message,
            author=args.author,
            tag=args.repository,
        )
    finally:
        if paused_here:
            lifecycle.unpause(ctrs, cid)
    ctx.out.write(image["id"] + "\n")
    return 0
