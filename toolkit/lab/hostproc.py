"""The process of one lab host: an init script that builds its root, then sshd as its PID 1.

`nsenter --net` puts it in the host's network namespace; `unshare --mount --uts --pid --fork
--kill-child` gives it its own mounts, hostname and pid namespace. The script mounts a tmpfs for
the overlay's upper layer, an overlay over the machine's `/`, fresh /proc, /sys, /run, /tmp,
/root and /var/lib/tke, then pivots into it and execs sshd. Every mount lives in the host's mount
namespace and vanishes with its last process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Iterable, List

INIT_SCRIPT = r"""#!/bin/sh
# lab host init: $1 hostname, $2 host dir, $3 address/prefix, $4 gateway
set -eu
NAME=$1 DIR=$2 ADDR=$3 GW=$4
hostname "$NAME"
ip -batch - <<EOT
link set lo up
addr add $ADDR dev eth0
link set eth0 up
route add default via $GW
EOT
mount -t tmpfs -o mode=0755,size=2g tklab-rw "$DIR/rw"
mkdir "$DIR/rw/upper" "$DIR/rw/work" "$DIR/rw/root"
R=$DIR/rw/root
mount -t overlay -o "lowerdir=/,upperdir=$DIR/rw/upper,workdir=$DIR/rw/work" tklab "$R"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount --rbind /sys/fs/cgroup "$R/sys/fs/cgroup"
mount --rbind /dev "$R/dev"
mkdir -p "$R/var/lib/tke" "$R/.oldroot"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=0700 tmpfs "$R/root"
mount -t tmpfs -o mode=0711 tmpfs "$R/var/lib/tke"
mkdir -p "$R/run/sshd" "$R/etc/ssh/tk-lab" "$R/root/.ssh"
cp "$DIR/sshd_config" "$DIR/ssh_host_ed25519_key" "$R/etc/ssh/tk-lab/"
cp "$DIR/authorized_keys" "$R/root/.ssh/authorized_keys"
chmod 700 "$R/root/.ssh"
echo "$NAME" > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n%s\t%s\n' "${ADDR%/*}" "$NAME" > "$R/etc/hosts"
if [ -f "$DIR/setup.sh" ]; then sh "$DIR/setup.sh" "$R"; fi
cd "$R"
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
exec /usr/sbin/sshd -D -e -f /etc/ssh/tk-lab/sshd_config
"""

SSHD_CONFIG = """\
# sshd of a tk lab host (key-only root login)
Port 22
ListenAddress {address}
HostKey /etc/ssh/tk-lab/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 200
MaxSessions 100
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
PidFile /run/sshd.pid
"""


def start(name: str, host_dir: str, netns: str, address: str, gateway: str, script: str) -> int:
    """Start the host's init in its netns; return the pid of `unshare` (root pid namespace)."""
    argv = [
        "nsenter", f"--net=/run/netns/{netns}", "--",
        "unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child",
        "--propagation", "private", "--",
        "/bin/sh", script, name, host_dir, f"{address}/24", gateway,
    ]  # fmt: skip
    return spawn_logged(argv, host_dir)


def spawn_logged(argv: List[str], host_dir: str) -> int:
    """Start argv in its own session, output appended to `<host_dir>/host.log`; return its pid."""
    with open(os.path.join(host_dir, "host.log"), "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    proc.returncode = 0  # the host outlives this object; the lab reaps it by pid or cgroup
    return proc.pid


def tail(path: str, lines: int) -> str:
    """The last lines of a log file joined with ` | ` (empty when unreadable), for errors."""
    try:
        with open(path, errors="replace") as fh:
            return " | ".join(fh.read().strip().splitlines()[-lines:])
    except OSError:
        return ""


def child_of(pid: int) -> int:
    """The first child of `pid` (the host's PID 1 under `unshare --fork`), 0 if none yet."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = fh.read().split()
    except OSError:
        return 0
    return int(kids[0]) if kids else 0


def is_sshd(pid: int) -> bool:
    """True once the host's init script has exec'd sshd (its network is configured by then)."""
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip() == "sshd"
    except OSError:
        return False


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie does not count: this VM's PID 1 reaps orphans late)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_all(pids: Iterable[int], timeout: float = 5.0) -> List[int]:
    """SIGKILL every pid, reap our own children, wait until all are gone; return survivors."""
    pids = [p for p in set(pids) if p > 0]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while True:
        for pid in pids:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)
