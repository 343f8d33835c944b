"""The OCI runtime (crun or runc): which one to use, why, and the commands tke sends to it.

Choice, in order: `--runtime` on run/create, `$TKE_RUNTIME`, `"runtime"` in the store's
config.json, else detection: crun when installed (fast, small), runc otherwise. A *hybrid*
cgroup host whose cgroup2 mount carries controllers is refused by crun 1.x ("cgroups in hybrid
mode not supported, drop all controllers from cgroupv2"); runc works there, and so does crun
started in a private mount namespace where /sys/fs/cgroup/unified is unmounted (crun then sees a
pure v1 host). tke does the latter (crun is about twice as fast as runc per container) and says
so in `tke info`; `--runtime runc` / TKE_RUNTIME=runc picks runc.

Every container records the runtime it was created with; `Runtime.argv(...)` builds the command
line (with the private-namespace wrapper when needed) used by tke and by the shim alike.
"""

from __future__ import annotations

import os

from toolkit.engine import cgroups, jsonc
from toolkit.errors import TkError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    import subprocess
    from typing import Optional

    from toolkit.engine.spawn import Child

KNOWN = ("crun", "runc")
# Runs the runtime in a private mount namespace without the hybrid cgroup2 mount.
_HYBRID_WRAP = [
    "unshare",
    "--mount",
    "--propagation",
    "slave",
    "--",
    "sh",
    "-c",
    'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"',
]


class RuntimeError_(TkError):
    """The OCI runtime failed or is missing."""

    exit_code = 125


class Runtime:
    """An OCI runtime program and how to call it (a plain class: importing dataclasses costs
    more than `tke run` spends on its own work)."""

    def __init__(
        self, name: str, path: str, state_root: str, wrap: Optional[list] = None, reason: str = ""
    ) -> None:
        self.name, self.path, self.state_root = name, path, state_root
        self.wrap = list(wrap or [])
        self.reason = reason

    def __repr__(self) -> str:
        return f"Runtime({self.name!r}, {self.path!r}, wrap={bool(self.wrap)})"

    def argv(self, *args: str, log: str = "") -> list:
        """The command line; the hybrid-cgroup wrapper only where crun checks the layout
        (creating a container): kill, delete, exec, pause, ps work without it. `log`: a file
        for the runtime's own messages (JSON lines), for a caller that cannot read stderr."""
        wrap = self.wrap if args[:1] in (("run",), ("create",)) else []
        logging = ["--log", log, "--log-format", "json"] if log else []
        return [*wrap, self.path, *logging, "--root", self.state_root, *args]

    def run(
        self, *args: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess:
        import subprocess  # here: `tke run` does not need it (its import costs ~2.5 ms)

        proc = subprocess.run(
            self.argv(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError_(f"{self.name} {args[0]}: {_message(proc.stderr)}")
        return proc

    def state(self, container_id: str) -> Optional[dict]:
        proc = self.run("state", container_id, check=False)
        if proc.returncode != 0:
            return None
        try:
            return jsonc.loads(proc.stdout)
        except ValueError:
            return None

    def kill(self, container_id: str, signal: str = "TERM", all_procs: bool = False) -> bool:
        args = ["kill"] + (["--all"] if all_procs else []) + [container_id, signal]
        return self.run(*args, check=False).returncode == 0

    def delete(self, container_id: str) -> None:
        self.run("delete", "--force", container_id, check=False)

    def start_delete(self, container_id: str) -> Child:
        """`delete --force` in the background (wait() on the result), to overlap other work."""
        from toolkit.engine.spawn import spawn

        return spawn(self.argv("delete", "--force", container_id))

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "wrap": self.wrap, "reason": self.reason}


def _message(stderr: str) -> str:
    lines = []
    for line in stderr.strip().splitlines():
        try:
            entry = jsonc.loads(line)
            line = entry.get("msg", line) if isinstance(entry, dict) else line
        except ValueError:
            pass
        lines.append(line.strip())
    return "; ".join(x for x in lines if x) or "failed"


# Per-mount flags a remount must repeat (the kernel resets those not given).
_MOUNT_FLAGS = {
    "ro": 1,
    "nosuid": 2,
    "nodev": 4,
    "noexec": 8,
    "noatime": 1024,
    "nodiratime": 2048,
    "relatime": 1 << 21,
    "strictatime": 1 << 24,
}
MS_REMOUNT = 32


def favor_dynmods(settings: Optional[dict] = None) -> Optional[str]:
    """Mount option `favordynmods` on the host's cgroup2 mount (hybrid and v2 hosts).

    The runtime moves each new container into its cgroups by writing `cgroup.procs`; the
    kernel then takes a global lock whose write side waits for an RCU grace period unless a
    cgroup hierarchy is mounted with favordynmods (Linux >= 6.0) — 10-25 ms of every
    `crun run` on an idle host (measured: 8 ms with it, 21-33 ms without, same bundle). The
    price is a slightly slower fork and exit system-wide, a host-wide choice: tke makes it
    only when the store setting `"cgroup-favordynmods": true` asks for it (docker and podman
    never touch the host's cgroup mounts). Returns the mount point changed, None if nothing
    was done (not asked, set already, no cgroup2 mount, kernel without it)."""
    if (settings or {}).get("cgroup-favordynmods", False) is not True:
        return None
    try:
        with open("/proc/self/mountinfo") as fh:
            lines = fh.readlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 6 or len(tail) < 3 or tail[0] != "cgroup2":
            continue
        super_opts = tail[2].split(",")
        if "favordynmods" in super_opts:
            return None
        flags = MS_REMOUNT
        for opt in fields[5].split(","):
            flags |= _MOUNT_FLAGS.get(opt, 0)
        data = ",".join([o for o in super_opts if o not in ("rw", "ro")] + ["favordynmods"])
        from toolkit.engine import rootfs

        try:
            rootfs.mount("cgroup2", fields[4], "cgroup2", flags, data)
        except OSError:  # not allowed here, or a kernel without the option
            return None
        return fields[4]
    return None


_FOUND: dict = {}


def which(name: str) -> Optional[str]:
    """shutil.which for a plain program name (shutil's import costs more than the lookup).
    A program found is remembered for this process and PATH (`tke run` asks for crun, runc
    and unshare twice); one not found is looked for again (a playbook may install it)."""
    search = os.environ.get("PATH", os.defpath)
    known = _FOUND.get((name, search))
    if known is not None and os.access(known, os.X_OK):
        return known
    for folder in search.split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            _FOUND[(name, search)] = path
            return path
    return None


_LAYOUT: list = []


def _host_layout() -> tuple:
    """(cgroup layout, whether crun refuses it), found once per process (`tke run` asks three
    times; the layout does not change under a running engine)."""
    if not _LAYOUT:
        layout = cgroups.mode()
        _LAYOUT.append((layout, layout == "hybrid" and cgroups.hybrid_has_controllers()))
    return _LAYOUT[0]


def state_root(run_dir: str, name: str) -> str:
    return os.path.join(run_dir, name)


def choose(run_dir: str, wanted: Optional[str] = None, settings: Optional[dict] = None) -> Runtime:
    """The runtime to use, with the reason in plain words."""
    wanted = wanted or os.environ.get("TKE_RUNTIME") or (settings or {}).get("runtime")
    layout, crun_refuses = _host_layout()
    if wanted:
        if wanted not in KNOWN and not os.path.isabs(wanted):
            raise RuntimeError_(f"unknown runtime {wanted!r}", hint="crun, runc or a full path")
        path = wanted if os.path.isabs(wanted) else which(wanted)
        if not path or not os.access(path, os.X_OK):
            raise RuntimeError_(f"runtime {wanted!r} not found in PATH")
        name = os.path.basename(path)
        reason = "asked for"
        wrap = []
        if name == "crun" and crun_refuses:
            wrap = list(_HYBRID_WRAP)
            reason += (
                "; hybrid cgroup host: crun runs in a private mount namespace without "
                "/sys/fs/cgroup/unified (it refuses hybrid mode)"
            )
        return Runtime(name, path, state_root(run_dir, name), wrap, reason)
    crun = which("crun")
    if crun and not crun_refuses:
        return Runtime(
            "crun", crun, state_root(run_dir, "crun"), [], f"crun found ({layout} cgroups)"
        )
    if crun and which("unshare"):
        return Runtime(
            "crun",
            crun,
            state_root(run_dir, "crun"),
            list(_HYBRID_WRAP),
            "hybrid cgroup host with controllers on cgroup2, which crun refuses: crun runs in a "
            "private mount namespace without /sys/fs/cgroup/unified (about twice as fast as runc)",
        )
    runc = which("runc")
    if runc:
        why = "crun not installed" if not crun else "hybrid cgroup host and no unshare(1) for crun"
        return Runtime("runc", runc, state_root(run_dir, "runc"), [], why)
    raise RuntimeError_(
        "no OCI runtime found (install crun or runc)",
        hint="apt-get install crun / dnf install crun",
    )


def from_record(run_dir: str, name: str) -> Runtime:
    """The runtime a container was created with."""
    return choose(run_dir, name)
