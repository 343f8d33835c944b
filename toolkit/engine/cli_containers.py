"""`tke` container verbs: run, create, start, stop, restart, kill, pause, unpause, rm, wait,
rename, attach — docker's flags and messages. Listing and inspection verbs are in
cli_ctrinfo.py, filesystem and exec verbs in cli_ctrfs.py; both are registered from here."""

from __future__ import annotations

import os
import sys

from toolkit.engine.cli import Context, Registrar
from toolkit.engine.ctxutil import suppress
from toolkit.errors import TkError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

# cli.py's fast path may build only the verb being run (argparse set-up is a good part of a
# short command); every register() here copes with verbs that were not built.
VERB_FILTER_SAFE = True
NETWORK_NOTE = (
    "Networks: bridge (the default: an address on the tke0 bridge, -p/-P publish ports, "
    '--link names other containers; off if the store\'s config.json has "bridge": "none"), '
    "none (loopback only), host (the host's), container:NAME (that container's)."
)


class CreateFailed(TkError):
    exit_code = 125


# Verbs registered by the sibling modules (imported only when one of theirs is wanted), as
# `tke VERB` and as `tke GROUP VERB`; `inspect`: the container inspector for `tke inspect`.
SIBLINGS = {
    "toolkit.engine.cli_ctrinfo": (
        "ps logs top port stats inspect container:ls container:logs container:top "
        "container:port container:stats container:inspect"
    ).split(),
    "toolkit.engine.cli_ctrfs": (
        "exec diff cp commit export container:exec container:diff container:cp "
        "container:commit container:export"
    ).split(),
    "toolkit.engine.cli_service": "info version system:info system:service".split(),
    "toolkit.engine.cli_prune": ["container:prune", "system:prune"],
}


def register(reg: Registrar) -> None:
    import argparse
    import importlib

    only = getattr(reg, "only_verb", None)
    if only is not None and getattr(reg, "only_group", None):
        only = f"{reg.only_group}:{only}"
    for modname, verbs in SIBLINGS.items():
        if only is None or only in verbs:
            importlib.import_module(modname).register(reg)

    p = reg.verb(
        "run",
        run,
        "Create and run a new container from an image",
        group="container",
        short_help=False,
    )
    for parser in p.parsers:
        parser.epilog = NETWORK_NOTE
    add_run_flags(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")

    p = reg.verb("create", create, "Create a new container", group="container", short_help=False)
    add_create_flags(p)
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")

    p = reg.verb("start", start, "Start one or more stopped containers", group="container")
    p.add_argument("-a", "--attach", action="store_true", help="attach STDOUT/STDERR")
    p.add_argument("-i", "--interactive", action="store_true", help="attach STDIN")
    p.add_argument("--detach-keys", default=None, help="key sequence for detaching")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    for verb, fn, text in (
        ("stop", stop, "Stop one or more running containers"),
        ("restart", restart, "Restart one or more containers"),
    ):
        p = reg.verb(verb, fn, text, group="container")
        p.add_argument("-t", "--time", type=int, default=None, help="seconds to wait (10)")
        p.add_argument("-s", "--signal", default="", help="signal to send")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = reg.verb("kill", kill, "Kill one or more running containers", group="container")
    p.add_argument("-s", "--signal", default="KILL", help="signal to send (default KILL)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")

    for verb, fn, text in (
        ("pause", pause, "Pause all processes within one or more containers"),
        ("unpause", unpause, "Unpause all processes within one or more containers"),
        ("wait", wait, "Block until containers stop, then print their exit codes"),
    ):
        p = reg.verb(verb, fn, text, group="container")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")

    p = reg.verb("rm", rm, "Remove one or more containers", group="container")
    p.add_argument("-f", "--force", action="store_true", help="force removal of running ones")
    p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes")
    p.add_argument("-l", "--link", action="store_true", help="remove the specified link")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")

    p = reg.verb("rename", rename, "Rename a container", group="container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")

    p = reg.verb("attach", attach, "Attach to a running container's stdio", group="container")
    p.add_argument("--detach-keys", default=None, help="key sequence for detaching")
    p.add_argument("--no-stdin", action="store_true", help="do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", help="proxy signals to the process")
    p.add_argument("container", metavar="CONTAINER")


PULL_POLICIES = ("always", "missing", "never")


def add_run_flags(p) -> None:
    """`tke run`'s flags (also read by runargs.py, the parser of `tke run`'s fast path)."""
    add_create_flags(p)
    p.add_argument("-d", "--detach", action="store_true", help="run in background, print ID")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--detach-keys", default=None, help="key sequence for detaching")
    p.add_argument("--sig-proxy", default="true", help="proxy signals to the process")
    p.add_argument("-a", "--attach", action="append", default=[], help="attach to STDIN/OUT/ERR")


def add_create_flags(p) -> None:
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("--name", default=None, help="assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read a file of env vars")
    p.add_argument("-w", "--workdir", default=None, help="working directory inside")
    p.add_argument("-u", "--user", default=None, help="username or UID (name|uid[:group|gid])")
    p.add_argument("--entrypoint", default=None, help="overwrite the image's ENTRYPOINT")
    p.add_argument("-h", "--hostname", default=None, help="container host name")
    p.add_argument("--restart", default="no", help="restart policy (no, on-failure[:N], ...)")
    p.add_argument("-m", "--memory", default=None, help="memory limit (e.g. 64m)")
    p.add_argument("--cpus", default=None, help="number of CPUs (e.g. 0.5)")
    p.add_argument("-c", "--cpu-shares", type=int, default=0, help="CPU shares (weight)")
    p.add_argument("--pids-limit", type=int, default=0, help="tune the pids limit")
    p.add_argument("--read-only", action="store_true", help="mount the root fs read only")
    p.add_argument("--cap-add", action="append", default=[], help="add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    p.add_argument("--privileged", action="store_true", help="extended privileges")
    p.add_argument("--init", action="store_true", help="run an init inside the container")
    p.add_argument("-l", "--label", action="append", default=[], help="set metadata")
    p.add_argument("--security-opt", action="append", default=[], help="no-new-privileges")
    p.add_argument("--runtime", default=None, help="OCI runtime: crun or runc")
    p.add_argument("--pull", default="missing", help="pull the image: always, missing, never")
    p.add_argument("--ulimit", action="append", default=[], help="ulimit (nofile=1024:2048)")
    p.add_argument("--shm-size", default=None, help="size of /dev/shm (e.g. 128m)")
    p.add_argument("--tmpfs", action="append", default=[], help="tmpfs mount (/run:size=64m)")
    p.add_argument("-p", "--publish", action="append", default=[], help="publish a port")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish exposed ports")
    p.add_argument("--expose", action="append", default=[], help="expose a port or range")
    p.add_argument("--add-host", action="append", default=[], help="add a host-to-IP mapping")
    p.add_argument("--dns", action="append", default=[], help="set custom DNS servers")
    p.add_argument("--dns-search", action="append", default=[], help="set DNS search domains")
    p.add_argument("--dns-option", action="append", default=[], help="set DNS options")
    p.add_argument("--link", action="append", default=[], help="link to another container")
    p.add_argument("--network", "--net", default="default", help="network: bridge, none, host")
    p.add_argument("-v", "--volume", action="append", default=[], help="bind mount a volume")
    p.add_argument("--volumes-from", action="append", default=[], help="mount volumes from")
    p.add_argument("--log-driver", default=None, help="logging driver: json-file, none")
    p.add_argument("--log-opt", action="append", default=[], help="log driver options")
    p.add_argument("--stop-signal", default=None, help="signal to stop it (default SIGTERM)")
    p.add_argument("--stop-timeout", type=int, default=None, help="seconds `stop` waits (10)")


# --- flag conversion ------------------------------------------------------------------------
def stop_signal(sig: str) -> str:
    """--stop-signal as given (docker keeps the spelling), if the host has that signal."""
    from toolkit.engine import lifecycle

    try:
        lifecycle.signal_name(sig)
    except TkError as exc:
        raise CreateFailed(exc.message) from None
    return sig


def parse_size(text: str, flag: str) -> int:
    import re  # here: its import costs ~3 ms of every `tke run`

    m = re.match(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$", text.strip(), re.I)
    if not m:
        raise CreateFailed(f'invalid argument {text!r} for "{flag}" flag: invalid size')
    mult = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    return int(float(m.group(1)) * mult[m.group(2).lower()])


def parse_restart(text: str) -> dict:
    name, _, count = (text or "no").partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise CreateFailed(f"invalid restart policy {text!r}")
    if count and (name != "on-failure" or not count.isdigit()):
        raise CreateFailed(
            f"invalid restart policy {text!r}: maximum retry count is only for on-failure"
        )
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def read_env_files(paths: list) -> list:
    out = []
    for path in paths:
        try:
            with open(path) as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            raise CreateFailed(f"open {path}: {exc.strerror}") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(env_item(line))
    return out


def env_item(item: str) -> str:
    if not item or item.startswith("="):
        raise CreateFailed(f"invalid environment variable: {item}")
    if "=" in item:
        return item
    value = os.environ.get(item)
    return f"{item}={value}" if value is not None else item


def create_options(args: argparse.Namespace) -> tuple:
    restart = parse_restart(args.restart)
    if getattr(args, "rm", False) and restart["Name"] != "no":
        raise CreateFailed("Conflicting options: --restart and --rm")
    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    env = read_env_files(args.env_file) + [env_item(e) for e in args.env]
    attach_all = not getattr(args, "detach", False)
    config = {
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": args.interactive and attach_all,
        "AttachStdin": args.interactive and attach_all,
        "AttachStdout": attach_all,
        "AttachStderr": attach_all,
        "Env": env,
        "Labels": labels,
        "Cmd": list(args.command) or None,
    }
    if args.entrypoint is not None:
        config["Entrypoint"] = [args.entrypoint] if args.entrypoint else []
    if args.stop_signal:
        config["StopSignal"] = stop_signal(args.stop_signal)
    if args.stop_timeout is not None:
        config["StopTimeout"] = args.stop_timeout
    if args.workdir:
        if not args.workdir.startswith("/"):
            raise CreateFailed(
                f"the working directory '{args.workdir}' is invalid, "
                "it needs to be an absolute path"
            )
        config["WorkingDir"] = args.workdir
    if args.user is not None:
        config["User"] = args.user
    if args.hostname:
        config["Hostname"] = args.hostname
    network = args.network
    if network not in ("default", "none", "host", "bridge") and not network.startswith(
        "container:"
    ):
        raise CreateFailed(f"network {network} not found")
    if network.startswith("container:") and (args.publish or args.publish_all):
        raise CreateFailed(
            "conflicting options: port publishing and the container type network mode"
        )
    host = {
        "NetworkMode": network,
        "RestartPolicy": restart,
        "AutoRemove": bool(getattr(args, "rm", False)),
        "Privileged": args.privileged,
        "Init": args.init or None,
        "ReadonlyRootfs": args.read_only,
        "CapAdd": args.cap_add or None,
        "CapDrop": args.cap_drop or None,
        "Memory": parse_size(args.memory, "--memory") if args.memory else 0,
        "NanoCpus": _nano_cpus(args.cpus),
        "CpuShares": args.cpu_shares,
        "PidsLimit": args.pids_limit if args.pids_limit > 0 else None,  # 0, -1: no limit
        "NoNewPrivileges": any(o.startswith("no-new-privileges") for o in args.security_opt),
        "SecurityOpt": _security_opt(args.security_opt),
        "PortBindings": _ports(args.publish),
        "PublishAllPorts": args.publish_all,
        "Links": args.link or None,
        "Binds": args.volume or None,
        "VolumesFrom": args.volumes_from or None,
    }
    if args.ulimit:
        host["Ulimits"] = [parse_ulimit(u) for u in args.ulimit]
    if args.shm_size:
        host["ShmSize"] = parse_size(args.shm_size, "--shm-size")
    if args.tmpfs:
        host["Tmpfs"] = parse_tmpfs(args.tmpfs)
    if args.add_host:
        host["ExtraHosts"] = [extra_host(item) for item in args.add_host]
    for flag, key in (("dns", "Dns"), ("dns_search", "DnsSearch"), ("dns_option", "DnsOptions")):
        if getattr(args, flag):
            host[key] = list(getattr(args, flag))
    if args.dns:
        _check_ips(args.dns, "--dns")
    exposed = expose_ports(args.expose)
    if exposed:
        config["ExposedPorts"] = exposed
    if network == "host" and not args.hostname:
        config["Hostname"] = os.uname().nodename  # docker: the host's name, with its network
    if args.runtime:
        host["Runtime"] = args.runtime
    if args.log_driver is not None or args.log_opt:
        from toolkit.engine import logconfig

        host["LogConfig"] = logconfig.from_flags(args.log_driver, args.log_opt)
    if host["Memory"] and host["Memory"] < 6 << 20:
        raise CreateFailed("Minimum memory limit allowed is 6MB")
    return config, host


ULIMITS = (
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
    "rss", "rtprio", "rttime", "sigpending", "stack",
)  # fmt: skip


def parse_ulimit(text: str) -> dict:
    """`--ulimit NAME=SOFT[:HARD]` as docker's HostConfig.Ulimits entry (-1: unlimited)."""
    name, _, values = text.partition("=")
    soft, _, hard = values.partition(":")
    bad = f'invalid argument "{text}" for "--ulimit" flag'
    if name not in ULIMITS:
        raise CreateFailed(f"{bad}: invalid ulimit type: {name}")
    try:
        soft_n = int(soft)
        hard_n = int(hard) if hard else soft_n
    except ValueError:
        raise CreateFailed(f"{bad}: invalid ulimit argument: {values}") from None
    if soft_n > hard_n and hard_n != -1:
        raise CreateFailed(f"{bad}: ulimit soft limit must be less than or equal to hard limit")
    return {"Name": name, "Soft": soft_n, "Hard": hard_n}


def parse_tmpfs(items: list) -> dict:
    """`--tmpfs PATH[:OPTIONS]` as docker's HostConfig.Tmpfs ({path: options})."""
    out = {}
    for item in items:
        path, _, options = item.partition(":")
        if not path.startswith("/"):
            raise CreateFailed(f'invalid argument "{item}" for "--tmpfs" flag: not absolute')
        out[path] = options
    return out


SECURITY_OPTS = ("no-new-privileges", "seccomp", "apparmor", "label")


def _security_opt(items: list) -> list | None:
    """As docker's CLI: a `seccomp=FILE` profile is read and checked now and kept inline;
    `apparmor=` and `label=` are accepted and have nothing to act on (no LSM profiles here)."""
    if not items:
        return None
    for i, item in enumerate(items, 1):
        key = item.split("=", 1)[0].split(":", 1)[0]
        if key not in SECURITY_OPTS:
            raise CreateFailed(f'Error response from daemon: invalid --security-opt {i}: "{item}"')
    from toolkit.engine import seccomp

    return seccomp.embed(items)


def _nano_cpus(text) -> int:
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        raise CreateFailed(f'invalid argument "{text}" for "--cpus" flag') from None
    ncpu = os.cpu_count() or 1
    if value <= 0 or value > ncpu:
        raise CreateFailed(
            f"range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    return int(value * 1e9)


def extra_host(item: str) -> str:
    """`--add-host NAME:IP` (or NAME=IP), IP may be `host-gateway`: docker's ExtraHosts entry."""
    sep = "=" if "=" in item else ":"
    name, _, ip = item.partition(sep)
    if not name or not ip:
        raise CreateFailed(f'invalid argument "{item}" for "--add-host" flag: bad format')
    if ip != "host-gateway":
        _check_ips([ip], "--add-host")
    return f"{name}:{ip}"


def _check_ips(items: list, flag: str) -> None:
    import ipaddress

    for ip in items:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise CreateFailed(f'invalid argument "{ip}" for "{flag}" flag: invalid IP') from None


def expose_ports(items: list) -> dict:
    """`--expose 80`, `--expose 7000-7002/udp` as Config.ExposedPorts keys."""
    out = {}
    for item in items:
        port, _, proto = item.partition("/")
        first, _, last = port.partition("-")
        if not first.isdigit() or (last and not last.isdigit()) or proto not in ("", "tcp", "udp"):
            raise CreateFailed(f"invalid range format for --expose: {item}")
        for number in range(int(first), int(last or first) + 1):
            out[f"{number}/{proto or 'tcp'}"] = {}
    return out


def _ports(items: list) -> dict:
    out: dict = {}
    for item in items:
        parts = item.split(":")
        target = parts[-1]
        if "/" not in target:
            target += "/tcp"
        port = target.split("/")[0]
        if not port.split("-")[0].isdigit():
            raise CreateFailed(f"invalid containerPort: {parts[-1]}")
        host_ip = parts[0] if len(parts) == 3 else ""
        host_port = parts[-2] if len(parts) >= 2 else ""
        out.setdefault(target, []).append({"HostIp": host_ip, "HostPort": host_port})
    return out


# --- handlers -------------------------------------------------------------------------------
def _ctrs(ctx: Context):
    from toolkit.engine.containers import Containers

    return Containers(ctx.store)


def _create(ctx: Context, args: argparse.Namespace, cid: str = ""):
    from toolkit.engine import images as imagedb
    from toolkit.engine import lifecycle

    config, host = create_options(args)
    ctrs = _ctrs(ctx)
    if args.pull not in PULL_POLICIES:
        raise CreateFailed(
            f'invalid pull option: \'{args.pull}\': must be one of "always", "missing" or "never"'
        )
    img = None
    try:
        if args.pull == "always":
            _pull(ctx, args.image, missing=False)
        img = imagedb.resolve(ctx.store, args.image)
    except imagedb.ImageNotFound as exc:
        if args.pull == "never":
            raise CreateFailed(f"Error response from daemon: {exc.message}") from None
        _pull(ctx, args.image)
    except UsageError as exc:
        raise CreateFailed(exc.message) from None
    try:
        return ctrs, lifecycle.create(ctrs, args.image, config, host, args.name, img=img, cid=cid)
    except TkError as exc:
        if exc.exit_code in (125, 126, 127):
            raise
        raise CreateFailed(exc.message, hint=exc.hint) from None


def _pull(ctx: Context, image: str, missing: bool = True) -> None:
    """`missing`: the image was not found (docker says so before it pulls)."""
    from toolkit.engine.pull import pull
    from toolkit.engine.reference import parse

    ref = parse(image)
    if missing:
        ctx.err.write(f"Unable to find image '{ref.familiar}' locally\n")
    try:
        result = pull(ctx.store, ref, None, None)
    except TkError as exc:
        raise CreateFailed(f"Error response from daemon: {exc.message}") from None
    from toolkit.engine.cli_images import pull_status

    ctx.err.write(pull_status(ref, result) + "\n")


def create(ctx: Context, args: argparse.Namespace) -> int:
    _, rec = _create(ctx, args)
    ctx.out.write(rec["Id"] + "\n")
    return 0


def run(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle

    if args.tty and args.interactive and not args.detach:
        require_tty_stdin()
    streams = {s.lower() for s in args.attach} or {"stdin", "stdout", "stderr"}
    bad = streams - {"stdin", "stdout", "stderr"}
    if bad:
        raise CreateFailed(f"invalid argument for -a: {sorted(bad)[0]} (stdin, stdout, stderr)")
    # the shim's interpreter starts while the container is created (`main` may have
    # launched it already, before the engine's imports)
    shim = ctx.take_shim(ctx.store.root) or lifecycle.launch_shim(_ctrs(ctx))
    try:
        ctrs, rec = _create(ctx, args, cid=shim.early_id)
    except BaseException:
        lifecycle.abandon_shim(shim)
        raise
    cid = rec["Id"]
    try:  # the rootfs mounts while the start gets there
        mounting = lifecycle.mount_rootfs(ctrs, rec, shim=shim)
    except OSError:
        mounting = None  # the start mounts it again and reports what is wrong
    if args.detach:
        _start_or_clean(ctrs, cid, args.rm, shim=shim, mounting=mounting)
        ctx.out.write(cid + "\n")
        return 0
    from toolkit.engine import attach as attach_mod

    want = attach_mod.request(
        stdin=args.interactive,
        stdout="stdout" in streams,
        stderr="stderr" in streams,
        claim_rm=args.rm,
    )
    holder = {}

    def on_sent() -> None:
        # the collector `main` turned off for the start is on again for the container's life
        import gc

        gc.enable()

    _start_or_clean(
        ctrs, cid, args.rm, attach=want, on_attached=lambda s: holder.update(sock=s), shim=shim,
        on_sent=on_sent, mounting=mounting,
    )  # fmt: skip
    if "sock" not in holder:  # the container was running already: attach to it
        on_sent()
        holder["sock"] = attach_mod.connect(ctrs.sock(cid), **want)
    code = attach_mod.pump(
        holder["sock"],
        tty=args.tty,
        stdin=args.interactive,
        out=ctx.out,
        err=ctx.err,
        detach_keys=attach_mod.parse_detach_keys(args.detach_keys),
        on_signal=_proxy(ctrs, cid) if args.sig_proxy != "false" else None,
    )
    if code is None:
        return 0
    if args.rm:
        lifecycle.remove(ctrs, cid, force=True, shim_deletes=True, volumes=True)
    return code


def require_tty_stdin() -> None:
    """`-it` reads a terminal: docker refuses a pipe or a file there."""
    try:
        ok = os.isatty(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):
        ok = False
    if not ok:
        raise TkError("the input device is not a TTY")


def _start_or_clean(ctrs, cid: str, autoremove: bool, **kw) -> None:
    from toolkit.engine import lifecycle

    try:
        lifecycle.start(ctrs, cid, **kw)
    except lifecycle.StartError as exc:
        if autoremove:
            with suppress(TkError, OSError):
                lifecycle.remove(ctrs, cid, force=True, volumes=True)
        else:
            raw = ctrs.raw_state(cid)
            raw.update(Status="created", ExitCode=exc.exit_code, Error=exc.message)
            ctrs.save_state(cid, raw)
        raise


def _proxy(ctrs, cid: str):
    from toolkit.engine import lifecycle

    def forward(signum: int) -> None:
        with suppress(TkError, OSError):
            lifecycle.runtime_of(ctrs, cid).kill(cid, str(int(signum)))

    return forward


def _each(ctx: Context, names: list, fn, echo: bool = True) -> int:
    """Apply fn(ctrs, cid) to each name; docker prints each name done, errors to stderr."""
    ctrs = _ctrs(ctx)
    rc = 0
    for name in names:
        try:
            cid = ctrs.find(name)
            result = fn(ctrs, cid)
            if echo:
                ctx.out.write(f"{name if result is None else result}\n")
        except TkError as exc:
            ctx.err.write(exc.message + "\n")
            rc = 1
    return rc


def start(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import attach as attach_mod
    from toolkit.engine import lifecycle

    if not (args.attach or args.interactive):
        return _each(ctx, args.containers, lambda c, cid: lifecycle.start(c, cid) and None)
    if len(args.containers) > 1:
        raise CreateFailed("you cannot start and attach multiple containers at once")
    ctrs = _ctrs(ctx)
    cid = ctrs.find(args.containers[0])
    rec = ctrs.record(cid)
    holder = {}
    want = attach_mod.request(stdin=args.interactive, stdout=True, stderr=True)
    if not ctrs.state(cid)["Running"]:
        lifecycle.start(ctrs, cid, attach=want, on_attached=lambda s: holder.update(sock=s))
    if "sock" not in holder:  # running already
        holder["sock"] = attach_mod.connect(ctrs.sock(cid), **want)
    code = attach_mod.pump(
        holder["sock"],
        tty=rec["Config"].get("Tty"),
        stdin=args.interactive,
        out=ctx.out,
        err=ctx.err,
        detach_keys=attach_mod.parse_detach_keys(args.detach_keys),
    )
    return 0 if code is None else code


def stop(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle

    return _each(
        ctx, args.containers, lambda c, cid: lifecycle.stop(c, cid, args.time, args.signal)
    )


def restart(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle

    return _each(ctx, args.containers, lambda c, cid: lifecycle.restart(c, cid, args.time))


def kill(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle

    return _each(ctx, args.containers, lambda c, cid: lifecycle.kill(c, cid, args.signal))


def pause(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle

    return _each(ctx, args.containers, lifecycle.pause)


def unpause(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle

    return _each(ctx, args.containers, lifecycle.unpause)


def wait(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle

    return _each(ctx, args.containers, lifecycle.wait)


def rm(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle

    if not args.containers:
        raise UsageError('"tke rm" requires at least 1 argument.', hint="tke rm CONTAINER...")
    return _each(
        ctx,
        args.containers,
        lambda c, cid: lifecycle.remove(c, cid, args.force, volumes=args.volumes),
    )


def rename(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine.lifecycle import _check_name, name_conflict

    ctrs = _ctrs(ctx)
    new = args.new_name.lstrip("/")
    _check_name(new)
    with ctrs.locked():
        cid = ctrs.find(args.container)
        ctrs.index_names()
        owner = ctrs.name_owner(new)
        if owner is not None:
            raise name_conflict(new, owner)
        rec = ctrs.record(cid)
        old = rec["Name"].lstrip("/")
        ctrs.claim_name(new, cid)
        rec["Name"] = "/" + new
        ctrs.save_record(rec)
        ctrs.release_name(old, cid)
    return 0


def attach(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import attach as attach_mod
    from toolkit.engine.containers import ContainerError

    ctrs = _ctrs(ctx)
    cid = ctrs.find(args.container)
    rec = ctrs.record(cid)
    if not ctrs.state(cid)["Running"]:
        raise ContainerError("You cannot attach to a stopped container, start it first")
    stdin = rec["Config"].get("OpenStdin") and not args.no_stdin
    sock = attach_mod.connect(ctrs.sock(cid), stdin=stdin, stdout=True, stderr=True)
    code = attach_mod.pump(
        sock,
        tty=rec["Config"].get("Tty"),
        stdin=stdin,
        out=ctx.out,
        err=ctx.err,
        detach_keys=attach_mod.parse_detach_keys(args.detach_keys),
        on_signal=_proxy(ctrs, cid) if args.sig_proxy != "false" else None,
    )
    if code is None:
        if rec["Config"].get("Tty") and sys.stdin.isatty():
            ctx.err.write("read escape sequence\n")
        return 0
    return code
