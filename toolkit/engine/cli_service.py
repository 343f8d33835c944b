"""`tke info` (runtime choice and why, cgroup layout, counts), `tke version` (the seed primer's
`docker version`: tke's, Python's, the kernel's and the OCI runtime's versions) and `tke system
service`: start the containers whose restart policy asks for it after a reboot — what
`systemctl enable docker` gives docker users. `tke system service --install` writes and enables
a systemd unit that runs it at boot. tke has no daemon (each container keeps its own shim); with
`--watch`, as in the unit, the command then stays to put the bridge's iptables rules back
whenever firewalld reloads, restarts or stops (fwwatch.py), on hosts that have firewalld."""

from __future__ import annotations

import argparse
import os
import sys

from toolkit.engine.cli import Context, Registrar
from toolkit.errors import TkError

UNIT_PATH = "/etc/systemd/system/tke.service"
UNIT = """[Unit]
Description=tke: start restart-policy containers, keep the bridge's firewall rules
Documentation=man:tke(1)
After=local-fs.target network-online.target firewalld.service dbus.service
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
RemainAfterExit=yes
Environment=TKE_ROOT={root}
ExecStart={tke} system service --watch
ExecStop={tke} system service --stop
TimeoutStopSec=120

[Install]
WantedBy=multi-user.target
"""


def register(reg: Registrar) -> None:
    p = reg.verb("info", info, "Display system-wide information", group="system")
    p.add_argument("-f", "--format", default=None, help="format output with a Go template")

    p = reg.verb("version", version, "Show the tke version information")
    p.add_argument("-f", "--format", default=None, help="format output with a Go template")

    p = reg.verb(None, service, "Start containers whose restart policy asks for it (boot)",
                 group="system", group_name="service")  # fmt: skip
    p.add_argument("--stop", action="store_true", help="stop running containers (shutdown)")
    p.add_argument(
        "--watch",
        action="store_true",
        help="then stay, putting the bridge's iptables rules back whenever firewalld reloads, "
        "restarts or stops (where firewalld is installed)",
    )
    p.add_argument("--install", action="store_true", help="install and enable a systemd unit")
    p.add_argument("--unit-path", default=UNIT_PATH, help="where --install writes the unit")
    p.add_argument("--no-enable", action="store_true", help="with --install: do not enable it")


def _ctrs(ctx: Context):
    from toolkit.engine.containers import Containers

    return Containers(ctx.store)


def info_dict(ctx: Context) -> dict:
    from toolkit.engine import cgroups, runtime

    ctrs = _ctrs(ctx)
    rt = runtime.choose(ctrs.run_dir, None, ctx.store.settings())
    states = [ctrs.state(cid)["Status"] for cid in ctrs.ids()]
    return {
        "Containers": len(states),
        "ContainersRunning": states.count("running"),
        "ContainersPaused": states.count("paused"),
        "ContainersStopped": len(states) - states.count("running") - states.count("paused"),
        "Images": len(ctx.store.load()["images"]),
        "Driver": "overlay",
        "CgroupVersion": "2" if cgroups.mode() == "v2" else "1",
        "CgroupLayout": cgroups.mode(),
        "DefaultRuntime": rt.name,
        "RuntimePath": rt.path,
        "RuntimeReason": rt.reason,
        "RuntimeWrapped": bool(rt.wrap),
        "DockerRootDir": ctx.store.root,
        "RunDir": ctrs.run_dir,
        "DefaultNetwork": "none (networking not implemented yet: loopback only)",
    }


def info(ctx: Context, args: argparse.Namespace) -> int:
    data = info_dict(ctx)
    if args.format:
        from toolkit.engine.gotemplate import render

        ctx.out.write(render(args.format, data) + "\n")
        return 0
    for key, value in data.items():
        ctx.out.write(f" {key}: {value}\n")
    return 0


def version_dict(ctx: Context) -> dict:
    """docker version's shape: the client (this command) and the engine, with its runtime."""
    import platform

    from toolkit import __version__
    from toolkit.engine import runtime

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    client = {"Version": __version__, "PythonVersion": platform.python_version(),
              "Os": "linux", "Arch": arch}  # fmt: skip
    server = dict(client, KernelVersion=platform.release(), Components=[])
    server["Components"].append({"Name": "Engine", "Version": __version__})
    try:
        rt = runtime.choose(_ctrs(ctx).run_dir, None, ctx.store.settings())
    except TkError as exc:  # no runtime installed: say so, as docker says what it cannot reach
        server["Components"].append({"Name": "runtime", "Version": exc.message})
        return {"Client": client, "Server": server}
    import subprocess

    proc = subprocess.run([rt.path, "--version"], capture_output=True, text=True)
    first = (proc.stdout.splitlines() or [""])[0]
    server["Components"].append({"Name": rt.name, "Version": first.split()[-1] if first else "?"})
    return {"Client": client, "Server": server}


def version(ctx: Context, args: argparse.Namespace) -> int:
    data = version_dict(ctx)
    if args.format:
        from toolkit.engine.gotemplate import render

        ctx.out.write(render(args.format, data) + "\n")
        return 0
    client, server = data["Client"], data["Server"]
    arch = f"{client['Os']}/{client['Arch']}"
    lines = ["Client:", f" Version:           {client['Version']}",
             f" Python version:    {client['PythonVersion']}", f" OS/Arch:           {arch}",
             "", "Server: tke (no daemon: each command is the engine)"]  # fmt: skip
    for comp in server["Components"]:
        lines.append(f" {comp['Name']}:")
        lines.append(f"  Version:          {comp['Version']}")
        if comp["Name"] == "Engine":
            lines.append(f"  OS/Arch:          {arch}")
            lines.append(f"  Kernel version:   {server['KernelVersion']}")
    ctx.out.write("\n".join(lines) + "\n")
    return 0


def wants_start(rec: dict, state: dict, stopped_by_user: bool) -> bool:
    """docker's rule at daemon start: always; unless-stopped unless the user stopped it;
    on-failure when it was running when the host went down."""
    policy = (rec["HostConfig"].get("RestartPolicy") or {}).get("Name") or "no"
    if state["Running"] or state["Restarting"]:
        return False
    if policy == "always":
        return True
    if policy == "unless-stopped":
        return not stopped_by_user
    if policy == "on-failure":
        return not stopped_by_user and state.get("Error") == "supervisor (shim) died"
    return False


def service(ctx: Context, args: argparse.Namespace) -> int:
    from toolkit.engine import lifecycle

    if args.install:
        return install_unit(ctx, args.unit_path, not args.no_enable)
    ctrs = _ctrs(ctx)
    lifecycle.release_stale_holds(ctrs)
    rc = 0
    for cid in sorted(ctrs.ids()):
        rec = ctrs.record(cid)
        if rec is None:
            continue
        name = rec["Name"].lstrip("/")
        state = ctrs.state(cid)
        try:
            if args.stop:
                if state["Running"]:
                    lifecycle.stop(ctrs, cid)
                    # a shutdown is not a user's stop: unless-stopped must come back at boot
                    os.unlink(ctrs.path(cid, "stopped"))
                    ctx.out.write(f"stopped {name}\n")
                continue
            stopped = os.path.exists(ctrs.path(cid, "stopped"))
            if wants_start(rec, state, stopped):
                lifecycle.start(ctrs, cid)
                ctx.out.write(f"started {name}\n")
        except (TkError, OSError) as exc:
            ctx.err.write(f"{name}: {getattr(exc, 'message', exc)}\n")
            rc = 1
    if args.watch and not args.stop:
        ctx.out.flush()
        sd_notify("READY=1")  # containers started: units ordered after this one may go on
        watch_firewalld(ctx, ctrs)
    return rc


def watch_firewalld(ctx: Context, ctrs) -> None:
    """fwwatch.watch for this store until killed; nothing to do without firewalld."""
    import shutil
    import subprocess

    from toolkit.engine import fwwatch, network

    if shutil.which("firewall-cmd") is None:
        ctx.err.write("firewalld is not installed: nothing to watch\n")
        return

    def log(text: str) -> None:
        ctx.err.write(text + "\n")
        ctx.err.flush()

    def restore(why: str) -> None:
        try:
            network.restore_bridge(ctrs)
        except (TkError, OSError, subprocess.SubprocessError) as exc:
            log(f"{why}: the bridge's rules could not be restored: {exc}")

    fwwatch.watch(restore, log=log)


def sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) the service's state; nothing outside such a unit."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    import socket

    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError:
            pass


def unit_command() -> str:
    """How the unit runs this engine: the `tke` program running now (a console script, or the
    launcher of an engine tk shipped to this host), else `tke` on PATH, else this Python with
    the package's directory on its path."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "tke" and os.access(argv0, os.X_OK):
        return os.path.abspath(argv0)
    import shutil

    found = shutil.which("tke")
    if found:
        return found
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    python = os.path.realpath(sys.executable)
    return f"/usr/bin/env PYTHONPATH={package_root} {python} -m toolkit.engine.cli"


def install_unit(ctx: Context, path: str, enable: bool) -> int:
    text = UNIT.format(root=ctx.store.root, tke=unit_command())
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    ctx.out.write(f"wrote {path}\n")
    if enable:
        import subprocess

        proc = subprocess.run(
            ["systemctl", "enable", os.path.basename(path)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise TkError(f"systemctl enable failed: {proc.stderr.strip()}")
        ctx.out.write(proc.stdout + proc.stderr)
    return 0
