"""Booted lab hosts: systemd as PID 1 (dbus, sshd, firewalld, hostnamed) under systemd-nspawn.

`SystemdLab(name, os_name="centos").up(n)` boots n hosts from the cached rootfs (see rootfs.py),
each with its own overlay upper dir (on disk in the lab dir, so it survives a reboot), network
namespace (a veth on the lab bridge, as light hosts) and cgroup. A host's launcher runs in a
private mount namespace: it mounts the overlay and a tmpfs on /run/systemd/nspawn, then runs
systemd-nspawn in a loop that boots the host again when it reboots (nspawn exits 133).
Hosts can run containers (tke with runc): nspawn lets them make keyrings and load BPF programs
(the device cgroup of cgroup v2), and /proc/sys/net is writable (ip_forward of their own
network namespace). Teardown kills each host's cgroup (cgroup.kill) and removes what
`Lab.down` removes.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from typing import Dict, List, Mapping, Optional

from toolkit.errors import UsageError
from toolkit.lab import hostproc, netns, rootfs
from toolkit.lab.lab import Lab, _banner, _check_count, _require_root, _wait_hosts
from toolkit.lab.netns import LabError
from toolkit.lab.state import HostState, LabState, root_lock

CGROUP_HIERARCHIES = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup")
INOTIFY = "/proc/sys/fs/inotify/max_user_instances"
INOTIFY_WANTED = 8192
MARKER = "systemd.json"

LAUNCH_SCRIPT = r"""#!/bin/sh
# booted lab host launcher: $1 name, $2 host dir, $3 lowerdirs, $4 netns, $5 cgroup name
set -eu
NAME=$1 DIR=$2 LOWER=$3 NS=$4 CG=$5
for h in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
  if [ -d "$h" ]; then mkdir -p "$h/$CG"; echo $$ > "$h/$CG/cgroup.procs"; fi
done
if [ ! -d /sys/fs/cgroup/unified ] && [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p "/sys/fs/cgroup/$CG"; echo $$ > "/sys/fs/cgroup/$CG/cgroup.procs"
fi
mkdir -p /run/systemd/nspawn
mount -t tmpfs -o mode=0755 tklab-nspawn /run/systemd/nspawn
mount -t overlay -o "lowerdir=$LOWER,upperdir=$DIR/upper,workdir=$DIR/work" "tklab-$NAME" \
  "$DIR/merged"
if [ -f "$DIR/setup.sh" ]; then sh "$DIR/setup.sh" "$DIR/merged"; fi
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network
while :; do
  rc=0
  systemd-nspawn -q -b --register=no --keep-unit -M "$NAME" --capability=CAP_NET_ADMIN \
    --network-namespace-path="/run/netns/$NS" --console=passive --resolv-conf=off \
    --timezone=off --link-journal=no --system-call-filter="add_key keyctl bpf" \
    -D "$DIR/merged" || rc=$?
  echo "tk-lab: nspawn exited $rc"
  [ "$rc" -eq 133 ] || exit "$rc"
done
"""


class SystemdLab(Lab):
    """A lab of booted hosts; same files (inventory, ssh_config, known_hosts) as a light lab."""

    def __init__(self, name: str = "lab", root: Optional[str] = None, os_name: str = "") -> None:
        super().__init__(name, root)
        saved = read_marker(self.directory)
        self.os_name = os_name or saved.get("os") or "centos"
        if self.os_name not in rootfs.OS_CHOICES:
            raise UsageError(
                f"unknown lab OS {self.os_name!r}", hint=f"use {' or '.join(rootfs.OS_CHOICES)}"
            )
        self.log = None

    def up(
        self, count: int, setup: Optional[Mapping[str, str]] = None, timeout: float = 180.0
    ) -> LabState:
        """Boot (or reconcile to) `count` hosts; returns once every host's sshd answers."""
        _check_count(count)
        _require_root()
        rootfs._require(["systemd-nspawn"], "apt-get install systemd-container")
        lower = ":".join(rootfs.lower_dirs(self.os_name, self.log))
        with root_lock(self.root):
            saved = read_marker(self.directory)
            if saved and saved.get("os") != self.os_name:
                raise UsageError(
                    f"lab {self.name!r} runs {saved.get('os')}, not {self.os_name}",
                    hint=f"tk lab down --name {self.name} first",
                )
            state = self._load_or_create()
            write_marker(self.directory, {"os": self.os_name, "lower": lower})
            raise_inotify_limit(self.root)
            fresh = self._reconcile(state, count, setup or {})
            self._wait_booted(state, fresh, timeout)
            self._write_files(state)
            self._wait_systemd(fresh, timeout)
            return state

    def down(self) -> None:
        super().down()
        with root_lock(self.root):
            restore_inotify_limit(self.root)

    def running(self, host: HostState) -> bool:
        from toolkit.lab import hostproc

        return hostproc.alive(host.pid)

    def status(self) -> List[Dict[str, object]]:
        return [
            {"name": h.name, "address": h.address, "running": self.running(h), "pid": h.pid}
            for h in self.hosts
        ]

    def leftovers(self, state: Optional[LabState] = None) -> List[str]:
        left = super().leftovers(state)
        for host in state.hosts if state else []:
            left += [f"cgroup {p}" for p in cgroup_dirs(cgroup_name(host))]
        return left

    def power_cycle(self, name: str) -> HostState:
        """Kill a host outright and boot it again from its (kept) overlay: a hard reset."""
        return self.restart_host(name)

    def restart_host(
        self, name: str, new_host_key: bool = False, setup: Optional[str] = None
    ) -> HostState:
        if new_host_key:
            raise UsageError("booted lab hosts keep their host key across restarts")
        return super().restart_host(name, setup=setup)

    # Internals (Lab calls these from up, restart_host and down).
    def _wait_restarted(self, state: LabState, hosts: List[HostState]) -> None:
        self._wait_booted(state, hosts, 120.0)
        self._write_files(state)
        self._wait_systemd(hosts, 120.0)

    def _start(
        self, state: LabState, hosts: List[HostState], pub: str, setup: Mapping[str, str]
    ) -> None:
        script = os.path.join(self.directory, "launch.sh")
        with open(script, "w") as fh:
            fh.write(LAUNCH_SCRIPT)
        lower = read_marker(self.directory)["lower"]
        commands: List[str] = []
        for host in hosts:
            self._prepare_host_dir(state, host, pub, setup.get(host.name))
            prepare_overlay(state.host_dir(host.name), host, pub)
            mac = netns.mac(state.octet, host.index)
            commands += netns.host_commands(host.netns, host.veth, state.bridge, mac)
        netns.ip_batch(commands)
        for host in hosts:
            configure_netns(host, state.gateway)
            host.pid = launch(state.host_dir(host.name), host, lower, script)
            host.pid1 = 0

    def _stop(self, hosts: List[HostState], extra_netns: Optional[List[str]] = None) -> None:
        for host in hosts:
            kill_cgroup(cgroup_name(host))
        super()._stop(hosts, extra_netns)

    def _wait_booted(self, state: LabState, hosts: List[HostState], timeout: float) -> None:
        def ready(host: HostState) -> bool:
            if not self.running(host):
                log = hostproc.tail(os.path.join(state.host_dir(host.name), "host.log"), 8)
                raise LabError(f"booted lab host {host.name} failed to start: {log}")
            return _banner(host.address)

        _wait_hosts(hosts, ready, timeout, "booted lab hosts without sshd", 0.1)
        state.save()

    def _wait_systemd(self, hosts: List[HostState], timeout: float) -> None:
        """Wait (over SSH, all hosts at once) until each host's boot is finished, so that
        firewalld and the other units are up when the caller starts using the host."""
        base = ["ssh", "-F", self.ssh_config, "-o", "BatchMode=yes"]
        procs = [
            subprocess.Popen(
                base + [h.name, "systemctl", "is-system-running", "--wait"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for h in hosts
        ]
        deadline = time.monotonic() + timeout
        for host, proc in zip(hosts, procs):
            try:
                out = proc.communicate(timeout=max(deadline - time.monotonic(), 1))[0]
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise LabError(
                    f"booted lab host {host.name}: boot not finished in {timeout:.0f}s"
                ) from None
            state = out.decode(errors="replace").strip().splitlines()[-1:]
            if state not in (["running"], ["degraded"]):
                raise LabError(f"booted lab host {host.name}: systemd says {state}")


def cgroup_name(host: HostState) -> str:
    return f"tkl-{host.name}"


def cgroup_dirs(name: str) -> List[str]:
    return [
        os.path.join(h, name) for h in CGROUP_HIERARCHIES if os.path.isdir(os.path.join(h, name))
    ]


def kill_cgroup(name: str, timeout: float = 10.0) -> None:
    """SIGKILL every process of a host's cgroups, then remove the cgroup trees."""
    dirs = cgroup_dirs(name)
    deadline = time.monotonic() + timeout
    while dirs:
        pids = []
        for top in dirs:
            kill_file = os.path.join(top, "cgroup.kill")
            if os.path.exists(kill_file):
                _write(kill_file, "1")
            pids += _pids_under(top)
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        if not pids:
            break
        if time.monotonic() > deadline:
            raise LabError(f"processes of cgroup {name} would not die: {pids[:10]}")
        time.sleep(0.05)
    for top in dirs:
        _rmdir_tree(top)


def _pids_under(top: str) -> List[int]:
    pids = []
    for dirpath, _dirs, files in os.walk(top):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as fh:
                    pids += [int(p) for p in fh.read().split()]
            except OSError:
                pass
    return pids


def _rmdir_tree(top: str) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
        for _ in range(50):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


def prepare_overlay(host_dir: str, host: HostState, pub: str) -> None:
    """First boot only: per-host files in the overlay upper dir (later boots keep its state)."""
    upper = os.path.join(host_dir, "upper")
    for sub in ("upper", "work", "merged"):
        os.makedirs(os.path.join(host_dir, sub), exist_ok=True)
    if os.path.exists(os.path.join(upper, "etc", "machine-id")):
        return
    os.makedirs(os.path.join(upper, "etc", "ssh"), mode=0o755, exist_ok=True)
    os.makedirs(os.path.join(upper, "root", ".ssh"), mode=0o700, exist_ok=True)
    os.chmod(os.path.join(upper, "root"), 0o700)
    key = os.path.join(host_dir, "ssh_host_ed25519_key")
    for suffix, mode in (("", 0o600), (".pub", 0o644)):
        with open(key + suffix, "rb") as fh:
            _write_file(
                os.path.join(upper, "etc/ssh/ssh_host_ed25519_key" + suffix), fh.read(), mode
            )
    _write_file(os.path.join(upper, "root/.ssh/authorized_keys"), pub.encode(), 0o600)
    _write_file(os.path.join(upper, "etc/hostname"), f"{host.name}\n".encode(), 0o644)
    hosts = (
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        f"{host.address}\t{host.name}\n"
    )
    _write_file(os.path.join(upper, "etc/hosts"), hosts.encode(), 0o644)
    # No DNS server is reachable from a lab host: fail lookups at once instead of timing out.
    resolv = b"# tk lab host: no DNS\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
    _write_file(os.path.join(upper, "etc/resolv.conf"), resolv, 0o644)
    _write_file(os.path.join(upper, "etc/machine-id"), (uuid.uuid4().hex + "\n").encode(), 0o444)


def configure_netns(host: HostState, gateway: str) -> None:
    script = (
        "link set lo up\n"
        f"addr add {host.address}/24 dev eth0\n"
        "link set eth0 up\n"
        f"route add default via {gateway}\n"
    )
    proc = subprocess.run(
        ["ip", "-n", host.netns, "-batch", "-"], input=script, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise LabError(f"ip in {host.netns} failed: {proc.stderr.strip()}")


def launch(host_dir: str, host: HostState, lower: str, script: str) -> int:
    argv = [
        "unshare", "--mount", "--propagation", "private", "--",
        "/bin/sh", script, host.name, host_dir, lower, host.netns, cgroup_name(host),
    ]  # fmt: skip
    return hostproc.spawn_logged(argv, host_dir)  # kill_cgroup reaps it


def read_marker(directory: str) -> Dict[str, str]:
    try:
        with open(os.path.join(directory, MARKER)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def write_marker(directory: str, data: Dict[str, str]) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, MARKER), "w") as fh:
        json.dump(data, fh)


def open_lab(name: str, root: Optional[str] = None) -> Lab:
    """The lab called `name` as the right class (a booted lab has a marker file)."""
    lab = Lab(name, root)
    if read_marker(lab.directory):
        return SystemdLab(name, root)
    return lab


def raise_inotify_limit(root: str) -> None:
    """Past ~20 booted hosts 128 inotify instances are too few; remember the old value."""
    saved = os.path.join(root, ".inotify-saved")
    current = int(_read(INOTIFY) or 0)
    if current and current < INOTIFY_WANTED:
        if not os.path.exists(saved):
            _write(saved, str(current))
        _write(INOTIFY, str(INOTIFY_WANTED))


def restore_inotify_limit(root: str) -> None:
    """Put the old limit back once no booted lab is left under this root."""
    saved = os.path.join(root, ".inotify-saved")
    if not os.path.exists(saved):
        return
    for entry in os.listdir(root):
        if read_marker(os.path.join(root, entry)):
            return
    _write(INOTIFY, _read(saved) or "128")
    os.unlink(saved)


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(text)
    except OSError:
        pass


def _write_file(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)
