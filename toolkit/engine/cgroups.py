"""Host cgroup layout detection and reading a container's cgroup (stats, freezer).

Three layouts exist on real hosts:

- "v1"      pure cgroup v1 (CentOS 7): one hierarchy per controller under /sys/fs/cgroup/NAME;
- "hybrid"  v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified (Debian 10-12 with
            systemd's hybrid mode, this kind of machine);
- "v2"      the unified hierarchy mounted at /sys/fs/cgroup (EL9, Debian 11+ default).

The runtime (runc/crun) creates and removes a container's cgroups from `linux.cgroupsPath` and
`linux.resources` in its config.json; this file only finds them again to read usage (`tke stats`)
and to tell the user why a runtime was chosen.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Optional

CGROUP_ROOT = "/sys/fs/cgroup"
_MODE: list = []


def mode() -> str:
    """'v2', 'hybrid' or 'v1' for this host (as seen from this mount namespace), found once
    per process. Only a cgroup2 filesystem has `cgroup.controllers` at its root: two stats
    rather than reading /proc/self/mountinfo, which costs ~0.15 ms each time on `tke run`'s
    path."""
    if not _MODE:
        if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
            _MODE.append("v2")
        elif os.path.exists(os.path.join(CGROUP_ROOT, "unified", "cgroup.controllers")):
            _MODE.append("hybrid")
        else:
            _MODE.append("v1")
    return _MODE[0]


def hybrid_has_controllers() -> bool:
    """True when the hybrid cgroup2 mount carries controllers (what crun 1.x refuses)."""
    try:
        with open(os.path.join(CGROUP_ROOT, "unified", "cgroup.controllers")) as fh:
            return bool(fh.read().split())
    except OSError:
        return False


def cgroup_path(container_id: str) -> str:
    """The cgroupsPath written into config.json (relative to each hierarchy's root)."""
    return f"/tke/{container_id}"


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def _int(text: Optional[str]) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def stats(container_id: str, layout: Optional[str] = None) -> dict:
    """Memory, CPU and pids usage of a container's cgroup: {mem, mem_limit, cpu_ns, pids}."""
    layout = layout or mode()
    rel = cgroup_path(container_id).lstrip("/")
    if layout == "v2":
        base = os.path.join(CGROUP_ROOT, rel)
        limit = _read(os.path.join(base, "memory.max"))
        cpu = 0
        for line in (_read(os.path.join(base, "cpu.stat")) or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                cpu = _int(value) * 1000
        return {
            "mem": _int(_read(os.path.join(base, "memory.current"))),
            "mem_limit": 0 if limit in (None, "max") else _int(limit),
            "cpu_ns": cpu,
            "pids": _int(_read(os.path.join(base, "pids.current"))),
        }
    mem = os.path.join(CGROUP_ROOT, "memory", rel)
    limit = _int(_read(os.path.join(mem, "memory.limit_in_bytes")))
    return {
        "mem": _int(_read(os.path.join(mem, "memory.usage_in_bytes"))),
        "mem_limit": 0 if limit >= 1 << 62 else limit,
        "cpu_ns": _int(_read(os.path.join(CGROUP_ROOT, "cpuacct", rel, "cpuacct.usage"))),
        "pids": _int(_read(os.path.join(CGROUP_ROOT, "pids", rel, "pids.current"))),
    }


def lift_pids_limit(container_id: str) -> None:
    """`pids.max` = max for a running container (`update --pids-limit -1`: crun writes a -1
    limit as is, which the kernel refuses)."""
    rel = cgroup_path(container_id).lstrip("/")
    folder = os.path.join(CGROUP_ROOT, rel if mode() == "v2" else os.path.join("pids", rel))
    with open(os.path.join(folder, "pids.max"), "w") as fh:
        fh.write("max")


def leftover(container_id: str) -> list[str]:
    """cgroup directories of this container that still exist (for leak checks)."""
    rel = cgroup_path(container_id).lstrip("/")
    found = []
    try:
        names = os.listdir(CGROUP_ROOT)
    except OSError:
        return found
    for name in names + [""]:
        path = os.path.join(CGROUP_ROOT, name, rel)
        if os.path.isdir(path):
            found.append(path)
    return found


def host_memory() -> int:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return _int(line.split()[1]) * 1024
    return 0
