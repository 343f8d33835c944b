"""Cached root filesystems of booted lab hosts: a Debian base and one layer per lab OS.

The base is `debootstrap --variant=minbase` with systemd, dbus, sshd and firewalld (and runc and
iptables, for tke's containers and bridge network), finished by a script run in a chroot. It is
built once into `<cache>/base-<hash>` (cache: $TK_LAB_CACHE or /var/cache/tk-lab), where the
hash covers its whole recipe: a changed recipe builds a new one.
Each OS layer is an overlay upper directory over the base (`<cache>/<os>-<hash>`). centos: real
rpm and dnf, a local file:// repository of small test rpms, an os-release saying CentOS Stream 9
and a real sshd.service. debian: a local flat apt repository of small test debs. Builds happen in
a temporary directory renamed into place at the end, under a lock, so a half-built tree is never
used and parallel test sessions build once.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from typing import Iterator, List, Optional

from toolkit.lab.hostproc import tail
from toolkit.lab.netns import LabError
from toolkit.lab.rootfs_scripts import BASE_SCRIPT, CENTOS_SCRIPT, DEBIAN_SCRIPT

DEFAULT_CACHE = "/var/cache/tk-lab"
SUITE = "bookworm"
BASE_PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "openssh-server",
    "firewalld",
    "python3",
    "python3-selinux",
    "python3-apt",
    "iproute2",
    "iptables",
    "runc",
    "netbase",
    "procps",
    "policycoreutils",
    "selinux-utils",
]
CENTOS_PACKAGES = ["rpm", "dnf", "python3-dnf", "createrepo-c"]
OS_CHOICES = ("debian", "centos")
# Per OS: (Debian packages installed from the mirror, script run in the layer's chroot).
LAYERS = {"centos": (CENTOS_PACKAGES, CENTOS_SCRIPT), "debian": ([], DEBIAN_SCRIPT)}
RETRIES = 3


def cache_dir() -> str:
    return os.environ.get("TK_LAB_CACHE") or DEFAULT_CACHE


def base_hash() -> str:
    return _hash(SUITE, " ".join(BASE_PACKAGES), BASE_SCRIPT)


def layer_hash(os_name: str) -> str:
    packages, script = LAYERS[os_name]
    return _hash(base_hash(), " ".join(packages), script)


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def lower_dirs(os_name: str, log: Optional[callable] = None) -> List[str]:
    """Overlay lower dirs (top first) for a host of `os_name`, building what is missing."""
    if os_name not in OS_CHOICES:
        raise LabError(f"unknown lab OS {os_name!r}", hint=f"use one of {', '.join(OS_CHOICES)}")
    base = ensure_base(log)
    return [ensure_layer(os_name, base, log), base]


def ensure_base(log: Optional[callable] = None) -> str:
    """The path of the cached base rootfs, built first if this recipe has none yet."""
    target = os.path.join(cache_dir(), f"base-{base_hash()}")
    with _build_lock("base"):
        if not os.path.isdir(target):
            _say(log, f"building the lab base rootfs ({SUITE}, about 2 minutes, once) in {target}")
            _build_base(target, log)
    return target


def ensure_layer(os_name: str, base: str, log: Optional[callable] = None) -> str:
    """The path of the cached `os_name` layer over `base`, built first if missing."""
    target = os.path.join(cache_dir(), f"{os_name}-{layer_hash(os_name)}")
    with _build_lock(os_name):
        if not os.path.isdir(target):
            _say(log, f"building the {os_name} lab layer in {target}")
            _build_layer(os_name, base, target)
    return target


def _say(log: Optional[callable], text: str) -> None:
    if log is not None:
        log(text)


@contextmanager
def _build_lock(what: str) -> Iterator[None]:
    os.makedirs(cache_dir(), exist_ok=True)
    with open(os.path.join(cache_dir(), f".{what}.lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _build_base(target: str, log: Optional[callable] = None) -> None:
    _require(["debootstrap"], "apt-get install debootstrap")
    tmp = target + ".tmp"
    mirror = debian_mirror()
    argv = [
        "debootstrap",
        "--variant=minbase",
        "--merged-usr",
        f"--include={','.join(BASE_PACKAGES)}",
        SUITE,
        tmp,
        mirror,
    ]
    for attempt in range(1, RETRIES + 1):
        safe_rmtree(tmp)
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode == 0:
            break
        detail = tail(os.path.join(tmp, "debootstrap", "debootstrap.log"), 6) or _last(proc)
        if attempt == RETRIES:
            safe_rmtree(tmp)
            raise LabError(
                f"debootstrap of the lab base failed {RETRIES} times (mirror {mirror}): {detail}",
                hint="check that apt can reach the mirror in /etc/apt/sources.list*",
            )
        _say(log, f"debootstrap attempt {attempt} failed, retrying: {detail}")
        time.sleep(5 * attempt)
    _chroot_script(tmp, BASE_SCRIPT, "finishing the lab base")
    os.rename(tmp, target)
    _remove_stale("base-", target)


def _build_layer(os_name: str, base: str, target: str) -> None:
    """Run the layer's script in a chroot of an overlay over the base; keep the upper dir."""
    tmp = target + ".tmp"
    safe_rmtree(tmp)
    for sub in ("upper", "work", "merged"):
        os.makedirs(os.path.join(tmp, sub))
    mirror = debian_mirror()
    packages, body = LAYERS[os_name]
    script = f"MIRROR='{mirror}' SUITE='{SUITE}' PACKAGES='{' '.join(packages)}'\n" + body
    opts = f"lowerdir={base},upperdir={tmp}/upper,workdir={tmp}/work"
    mount = f"mount -t overlay -o {opts} tklab-build {tmp}/merged"
    _chroot_script(f"{tmp}/merged", script, f"building the {os_name} layer", before=mount)
    os.rename(os.path.join(tmp, "upper"), target + ".upper")
    safe_rmtree(tmp)
    os.rename(target + ".upper", target)
    _remove_stale(f"{os_name}-", target)


def _chroot_script(root: str, script: str, what: str, before: str = "") -> None:
    """Run `script` with /bin/sh chrooted in `root`, inside a private mount namespace."""
    wrapper = f"""set -e
{before}
R={root}
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs tmpfs "$R/tmp"
mount -t tmpfs tmpfs "$R/run"
cp /etc/resolv.conf "$R/run/resolv.conf.build"
exec chroot "$R" /bin/sh -e -c "$TK_SCRIPT"
"""
    env = dict(os.environ, TK_SCRIPT=script, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", wrapper]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise LabError(f"{what} failed (exit {proc.returncode}): {_last(proc, 12)}")


def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 .sources or one-line .list files)."""
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*"))
    for path in files:
        try:
            with open(path) as fh:
                text = fh.read()
        except OSError:
            continue
        found = _mirror_in(text)
        if found:
            return found
    return "http://deb.debian.org/debian"


def _mirror_in(text: str) -> Optional[str]:
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.split()
            words = line.split()
            if len(words) >= 3 and words[0] == "deb":
                rest = [w for w in words[1:] if not w.startswith("[")]
                if len(rest) >= 2 and rest[1] == SUITE:
                    return rest[0]
        if SUITE in fields.get("suites", []) and fields.get("uris"):
            return fields["uris"][0]
    return None


def mounts_under(path: str) -> List[str]:
    """Mount points at or below `path`, deepest first (from /proc/self/mountinfo)."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point == path or point.startswith(path + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def safe_rmtree(path: str) -> None:
    """rmtree that first unmounts what a failed build left mounted inside (proc, sys, dev)."""
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", point], capture_output=True)
    left = mounts_under(path)
    if left:
        raise LabError(f"cannot remove {path}: still mounted: {', '.join(left)}")
    shutil.rmtree(path, ignore_errors=True)


def _remove_stale(prefix: str, keep: str) -> None:
    """Drop older builds of the same kind (a changed recipe leaves its predecessor unused),
    except those a running host still has as an overlay layer (another session's lab)."""
    for path in glob.glob(os.path.join(cache_dir(), prefix + "*")):
        if path != keep and not path.endswith(".tmp") and not overlay_uses(path):
            safe_rmtree(path)


def overlay_uses(path: str) -> bool:
    """Whether a mount in any process's mount namespace has `path` in its overlay layers
    (booted hosts mount theirs in private namespaces, invisible in ours)."""
    needle = re.compile(r"[=:,]" + re.escape(path.rstrip("/")) + r"(?=[,:/\s]|$)")
    for mountinfo in glob.glob("/proc/[0-9]*/mountinfo"):
        try:
            with open(mountinfo, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:  # the process ended meanwhile
            continue
        if " overlay " in text and needle.search(text):
            return True
    return False


def _require(tools: List[str], hint: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise LabError(f"missing {', '.join(missing)} for booted lab hosts", hint=hint)


def _last(proc: subprocess.CompletedProcess, lines: int = 6) -> str:
    text = (proc.stderr or "") + (proc.stdout or "")
    return " | ".join(text.strip().splitlines()[-lines:])
