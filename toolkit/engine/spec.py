"""The OCI runtime spec (config.json) for a container, as docker would configure it.

`build(rec, merged, ctrdir, user)` takes the container record (docker inspect's Config and
HostConfig) and returns the spec: process (args, env, cwd, user, tty, rlimits clamped to what
the host allows, capabilities = docker's default set ± --cap-add/--cap-drop, or all with
--privileged), namespaces (pid, mount, ipc, uts, net), docker's default mounts, masked and
read-only /proc paths, hostname, /etc/hosts, /etc/hostname and /etc/resolv.conf bind mounts, and
cgroup limits (--memory, --cpus, --cpu-shares, --pids-limit) under `linux.resources`.
"""

from __future__ import annotations

import os
import stat

from toolkit.engine import cgroups
from toolkit.errors import TkError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Optional

DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
ALL_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]  # fmt: skip  (in the kernel's order: the index is the capability's number)
MASKED = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000


class SpecError(TkError):
    exit_code = 125


def caps(privileged: bool, add: list, drop: list) -> list:
    if privileged:
        return held_caps()
    names = list(DEFAULT_CAPS)
    for cap in add:
        cap = _cap(cap)
        if cap == "CAP_ALL":
            names = held_caps()
        elif cap not in names:
            names.append(cap)
    for cap in drop:
        cap = _cap(cap)
        names = [] if cap == "CAP_ALL" else [n for n in names if n != cap]
    return names


def held_caps() -> list:
    """The capabilities tke can hand out: `--privileged` and `--cap-add ALL` mean all of those
    in this process's bounding set (a container cannot get more; asking for them makes the
    runtime's capset fail), as podman does."""
    try:
        with open("/proc/self/status") as fh:
            line = next(x for x in fh if x.startswith("CapBnd:"))
        mask = int(line.split()[1], 16)
    except (OSError, StopIteration, ValueError, IndexError):
        return list(ALL_CAPS)
    return [cap for number, cap in enumerate(ALL_CAPS) if mask >> number & 1]


def _cap(name: str) -> str:
    name = name.upper()
    full = name if name.startswith("CAP_") else "CAP_" + name
    if full != "CAP_ALL" and full not in ALL_CAPS:
        raise SpecError(f"invalid capability: {name}")
    return full


def rlimits(ulimits: Optional[list] = None) -> list:
    """docker's default RLIMIT_NOFILE (1048576) and the `--ulimit`s, each clamped to this
    host's hard limit (the runtime's setrlimit fails above it)."""
    asked = {"nofile": (1048576, 1048576)}
    for item in ulimits or []:
        asked[item["Name"]] = (item["Soft"], item["Hard"])
    host = host_hard_limits()
    out = []
    for name, (soft, hard) in asked.items():
        kind = "RLIMIT_" + name.upper()
        host_hard = host.get(kind, host["RLIMIT_NOFILE"])
        hard = _clamp(hard, host_hard)
        out.append({"type": kind, "hard": hard, "soft": min(_clamp(soft, host_hard), hard)})
    return out


UNLIMITED = -1  # resource.RLIM_INFINITY
# /proc/self/limits' rows, named as the kernel prints them (fs/proc/base.c)
LIMIT_ROWS = {
    "Max cpu time": "RLIMIT_CPU",
    "Max file size": "RLIMIT_FSIZE",
    "Max data size": "RLIMIT_DATA",
    "Max stack size": "RLIMIT_STACK",
    "Max core file size": "RLIMIT_CORE",
    "Max resident set": "RLIMIT_RSS",
    "Max processes": "RLIMIT_NPROC",
    "Max open files": "RLIMIT_NOFILE",
    "Max locked memory": "RLIMIT_MEMLOCK",
    "Max address space": "RLIMIT_AS",
    "Max file locks": "RLIMIT_LOCKS",
    "Max pending signals": "RLIMIT_SIGPENDING",
    "Max msgqueue size": "RLIMIT_MSGQUEUE",
    "Max nice priority": "RLIMIT_NICE",
    "Max realtime priority": "RLIMIT_RTPRIO",
    "Max realtime timeout": "RLIMIT_RTTIME",
}


def host_hard_limits() -> dict:
    """RLIMIT_* -> this process's hard limit (UNLIMITED for none), from /proc/self/limits:
    the `resource` module is a shared library to load on every `tke run` (~0.15 ms)."""
    out = {}
    try:
        with open("/proc/self/limits") as fh:
            lines = fh.read().splitlines()[1:]
    except OSError:
        lines = []
    for line in lines:
        kind = LIMIT_ROWS.get(line[:26].strip())
        fields = line[26:].split()
        if kind and len(fields) >= 2:
            out[kind] = UNLIMITED if fields[1] == "unlimited" else int(fields[1])
    if "RLIMIT_NOFILE" not in out:  # no procfs
        import resource

        kinds = [k for k in LIMIT_ROWS.values() if hasattr(resource, k)]
        out = {k: resource.getrlimit(getattr(resource, k))[1] for k in kinds}
    return out


def _clamp(value: int, host_hard: int) -> int:
    value = UNLIMITED if value < 0 else value
    return value if host_hard == UNLIMITED else min(value, host_hard)


def mounts(ctrdir: str, read_only_sys: bool = True, host: Optional[dict] = None) -> list:
    sys_opts = ["nosuid", "noexec", "nodev"] + (["ro"] if read_only_sys else [])
    nosx = ["nosuid", "noexec", "nodev"]
    out = [
        _mount("/proc", "proc", "proc", nosx),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        _mount("/sys", "sysfs", "sysfs", sys_opts),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", nosx + ["relatime", "ro"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", nosx),
        _mount("/dev/shm", "tmpfs", "shm", nosx + ["mode=1777", f"size={_shm_kib(host)}k"]),
    ]
    for path, options in ((host or {}).get("Tmpfs") or {}).items():
        # docker's --tmpfs: noexec, nosuid, nodev unless the options say otherwise
        given = [o for o in options.split(",") if o]
        out.append(_mount(path, "tmpfs", "tmpfs", _tmpfs_defaults(given) + given))
    for name in ("resolv.conf", "hostname", "hosts"):
        out.append(
            {
                "destination": f"/etc/{name}",
                "type": "bind",
                "source": os.path.join(ctrdir, name),
                "options": ["rbind", "rprivate"],
            }
        )
    return out


def _shm_kib(host: Optional[dict]) -> int:
    size = (host or {}).get("ShmSize") or 64 << 20
    return max(size // 1024, 1)


def _tmpfs_defaults(given: list) -> list:
    opposite = {"noexec": "exec", "nosuid": "suid", "nodev": "dev"}
    return [flag for flag, other in opposite.items() if flag not in given and other not in given]


def _parents_first(items: list) -> list:
    """Mounts ordered so that a directory is mounted before what is mounted inside it (a
    volume on /etc must not hide /etc/hosts); the order is kept otherwise (a stable sort)."""
    return sorted(items, key=lambda m: m["destination"].rstrip("/").count("/"))


def _mount(dest: str, kind: str, source: str, options: list) -> dict:
    return {"destination": dest, "type": kind, "source": source, "options": options}


def resources(host: dict, privileged: bool) -> dict:
    res: dict = {"devices": [{"allow": privileged, "access": "rwm"}]}
    if host.get("Memory"):
        res["memory"] = {"limit": int(host["Memory"])}
    cpu: dict = {}
    if host.get("NanoCpus"):
        cpu["quota"] = int(host["NanoCpus"] * CPU_PERIOD // 1_000_000_000)
        cpu["period"] = CPU_PERIOD
    if host.get("CpuShares"):
        cpu["shares"] = int(host["CpuShares"])
    if cpu:
        res["cpu"] = cpu
    if host.get("PidsLimit"):
        res["pids"] = {"limit": int(host["PidsLimit"])}
    return res


def join_network(conf: dict, netns: str, env: list) -> None:
    """Run in the network namespace prepared at `netns` (bridge networking), with the
    environment of its links."""
    for ns in conf["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = netns
    conf["process"]["env"] = list(conf["process"]["env"]) + list(env)


def environment(cfg: dict, hostname: str) -> list:
    env = {}
    for item in cfg.get("Env") or []:
        key, _, _ = item.partition("=")
        env[key] = item
    env.setdefault("PATH", f"PATH={DEFAULT_PATH}")
    env["HOSTNAME"] = f"HOSTNAME={hostname}"
    if cfg.get("Tty"):
        env.setdefault("TERM", "TERM=xterm")
    return list(env.values())


def build(
    rec: dict,
    merged: str,
    ctrdir: str,
    user: tuple,
    layout: Optional[str] = None,
    seccomp_filter: bool = True,
) -> dict:
    """The OCI config of a container. `seccomp_filter=False`: without `linux.seccomp`, which
    the caller gives it (bpfcache.apply: the compiled program crun keeps, or the profile)."""
    cfg, host = rec["Config"], rec["HostConfig"]
    privileged = bool(host.get("Privileged"))
    capset = caps(privileged, host.get("CapAdd") or [], host.get("CapDrop") or [])
    hostname = cfg.get("Hostname") or rec["Id"][:12]
    process = {
        "terminal": bool(cfg.get("Tty")),
        "args": [rec["Path"], *rec["Args"]],
        "env": environment(cfg, hostname),
        "cwd": cfg.get("WorkingDir") or "/",
        "capabilities": {"bounding": capset},
        "rlimits": rlimits(host.get("Ulimits")),
        "noNewPrivileges": bool(host.get("NoNewPrivileges")),
    }
    if cfg.get("Tty"):
        process["consoleSize"] = {"height": 24, "width": 80}
    kinds = ["pid", "mount", "ipc", "uts"]
    if (host.get("NetworkMode") or "none") != "host":
        kinds.append("network")
    namespaces = [{"type": t} for t in kinds]
    if (layout or cgroups.mode()) == "v2":
        namespaces.append({"type": "cgroup"})
    linux = {
        "namespaces": namespaces,
        "cgroupsPath": cgroups.cgroup_path(rec["Id"]),
        "resources": resources(host, privileged),
        "maskedPaths": [] if privileged else MASKED,
        "readonlyPaths": [] if privileged else READONLY,
    }
    if seccomp_filter:
        from toolkit.engine import seccomp

        profile = seccomp.for_host_config(host, capset)
        if profile is not None:
            linux["seccomp"] = profile
    conf = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": merged, "readonly": bool(host.get("ReadonlyRootfs"))},
        "hostname": hostname,
        "mounts": _parents_first(
            mounts(ctrdir, not privileged, host) + _volume_mounts(rec.get("Mounts"))
        ),
        "linux": linux,
    }
    set_user(conf, user)
    return conf


def set_user(conf: dict, user: tuple) -> None:
    """The process's (uid, gid, additional gids), and its capabilities as docker gives them:
    root keeps the bounding set effective and permitted, another user starts with none."""
    uid, gid, extra = user
    process = conf["process"]
    process["user"] = {"uid": uid, "gid": gid, "additionalGids": extra}
    caps = process["capabilities"]
    held = caps["bounding"] if uid == 0 else []
    caps.update(effective=held, permitted=held)
    if uid == 0:
        caps["inheritable"] = []
    else:
        caps.pop("inheritable", None)


USER_FILES = ("etc/passwd", "etc/group")


def resolve_user(merged: str, spec_user: str) -> tuple:
    """`-u name|uid[:group|gid]` -> (uid, gid, additional gids) using the image's files."""
    return user_ids(spec_user, *(_table(merged, rel) for rel in USER_FILES))


def user_ids(spec_user: str, passwd: list, groups: list) -> tuple:
    """resolve_user from the passwd and group files' rows (read_table)."""
    name, _, group = (spec_user or "").partition(":")
    uid, gid = 0, 0
    if name:
        row = next((r for r in passwd if name in (r[0], r[2]) and len(r) > 3), None)
        if row is not None:
            uid, gid = int(row[2]), int(row[3])
        elif name.isdigit():
            uid, gid = int(name), 0
        else:
            raise SpecError(
                f"unable to find user {name}: no matching entries in passwd file",
            )
    if group:
        row = next((r for r in groups if group in (r[0], r[2]) and len(r) > 2), None)
        if row is not None:
            gid = int(row[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise SpecError(f"unable to find group {group}: no matching entries in group file")
    user_name = next((r[0] for r in passwd if len(r) > 2 and r[2] == str(uid)), None)
    extra = sorted(
        {
            int(r[2])
            for r in groups
            if len(r) > 3 and user_name and user_name in r[3].split(",") and r[2].isdigit()
        }
        - {gid}
    )
    return uid, gid, extra


def _table(merged: str, rel: str) -> list:
    path = os.path.join(merged, rel)
    if _symlink_below(merged, rel):
        # the image's links, followed as inside the container: never out of it
        from toolkit.engine.ctrfs import CopyError, resolve

        try:
            path = resolve(merged, rel)
        except CopyError:  # a link loop
            return []
    return read_table(path)


def read_table(path: str) -> list:
    """A passwd-like file's rows (none if it is missing or unreadable)."""
    try:
        with open(path, errors="replace") as fh:
            return [line.rstrip("\n").split(":") for line in fh if ":" in line]
    except OSError:
        return []


def _symlink_below(root: str, rel: str) -> bool:
    """Is a component of `rel` under `root` a symlink? (A few lstats rather than two
    realpaths of the whole path; the container is not running, so nothing changes them.)"""
    path = root
    for part in rel.split("/"):
        path = os.path.join(path, part)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return True
        except OSError:
            return False
    return False


def _volume_mounts(mounts) -> list:
    """OCI mounts for the container's volumes and binds (volumes imported only if any)."""
    if not mounts:
        return []
    from toolkit.engine import volumes

    return volumes.spec_mounts(mounts)
