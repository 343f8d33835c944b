"""A throw-away VM for what this host cannot show: pure cgroup v1 (CentOS 7) and pure cgroup v2
(EL9) layouts, where this machine is hybrid and its cgroups belong to systemd.

    console = boot(["tkvm.mode=v2", ...], script="/repo/tests/engine/vmguest.py")

qemu (emulated: see accel) boots Debian's own kernel with a small initramfs (busybox and the
virtio, 9p and overlay modules), which mounts this machine's root filesystem read-only over 9p
and hands over to `script`, run by this Python as PID 1. The guest has no network and no
disk: its writable directories are tmpfs, so nothing it does reaches the host. The kernel
package is fetched once with apt into $TK_LAB_CACHE/vm (default /var/cache/tk-lab/vm), like
the lab's rootfs.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys

CACHE = os.path.join(os.environ.get("TK_LAB_CACHE", "/var/cache/tk-lab"), "vm")
BUSYBOX = "/bin/busybox"
QEMU = "qemu-system-x86_64"
# this machine's / as the guest's root, read-only; `remap` keeps inode numbers of its many
# filesystems apart (without it the guest's cached lookups mix them up)
VIRTFS = "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
# what the initramfs loads, dependencies first (names of the kernel's .ko files)
MODULES = [
    "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio", "virtio_pci",
    "9pnet", "9pnet_virtio", "netfs", "fscache", "9p", "overlay",
]  # fmt: skip
INIT = """#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for m in {modules}; do /bin/busybox insmod /m/$m.ko || echo "tkvm: insmod $m failed"; done
/bin/busybox mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose hostroot /newroot
/bin/busybox umount /proc
exec /bin/busybox switch_root /newroot {python} -S {script}
"""


class VMError(RuntimeError):
    pass


def missing() -> str:
    """Why no VM can be booted here ('' when one can)."""
    if not shutil.which(QEMU):
        return f"{QEMU} is not installed (scripts/setup.sh installs qemu-system-x86)"
    if not os.path.exists(BUSYBOX):
        return "busybox-static is not installed"
    return ""


def kernel() -> tuple[str, str]:
    """(vmlinuz, modules dir) of Debian's current kernel package, fetched once."""
    found = sorted(glob.glob(os.path.join(CACHE, "root", "boot", "vmlinuz-*")))
    if not found:
        _fetch_kernel()
        found = sorted(glob.glob(os.path.join(CACHE, "root", "boot", "vmlinuz-*")))
    if not found:
        raise VMError(f"no kernel in {CACHE}")
    version = os.path.basename(found[-1])[len("vmlinuz-") :]
    return found[-1], os.path.join(CACHE, "root", "lib", "modules", version)


def _fetch_kernel() -> None:
    deps = subprocess.run(
        ["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True, check=True
    ).stdout
    names = re.findall(r"Depends: (linux-image-\S+)", deps)
    if not names:
        raise VMError("apt knows no linux-image-amd64 package (apt-get update?)")
    staging = CACHE + ".tmp"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    # apt's download sandbox user cannot write into root's directory: fetch as root
    subprocess.run(
        ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", names[0]],
        cwd=staging, check=True, capture_output=True,
    )  # fmt: skip
    (deb,) = glob.glob(os.path.join(staging, "*.deb"))
    subprocess.run(["dpkg-deb", "-x", deb, os.path.join(staging, "root")], check=True)
    os.unlink(deb)
    shutil.rmtree(CACHE, ignore_errors=True)
    os.rename(staging, CACHE)


def initramfs(moddir: str, script: str, dest: str) -> str:
    """A newc cpio archive: /init, busybox, the modules (cpio(1) is not needed)."""
    index = {}
    for folder, _, files in os.walk(moddir):
        for name in files:
            if name.endswith(".ko"):
                index[name[:-3].replace("-", "_")] = os.path.join(folder, name)
    entries = [("dev", None, 0o40755), ("proc", None, 0o40755), ("newroot", None, 0o40755)]
    entries += [("bin", None, 0o40755), ("m", None, 0o40755)]
    entries.append(("bin/busybox", _read(BUSYBOX), 0o100755))
    # a module this kernel builds in or no longer has is left out (the boot says what fails)
    present = [name for name in MODULES if name in index]
    for name in present:
        entries.append((f"m/{name}.ko", _read(index[name]), 0o100644))
    init = INIT.format(modules=" ".join(present), python=_python(), script=script)
    entries.append(("init", init.encode(), 0o100755))
    with open(dest, "wb") as out:
        for ino, (name, data, mode) in enumerate(entries, 1):
            _cpio_entry(out, ino, name, data or b"", mode)
        _cpio_entry(out, 0, "TRAILER!!!", b"", 0)
    return dest


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _python() -> str:
    """This interpreter as the guest sees it (the host's root is the guest's)."""
    return os.path.realpath(sys.executable)


def _cpio_entry(out, ino: int, name: str, data: bytes, mode: int) -> None:
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    out.write(head + name.encode() + b"\0")
    out.write(b"\0" * (-(len(head) + len(name) + 1) % 4))
    out.write(data)
    out.write(b"\0" * (-len(data) % 4))


def accel() -> list:
    """Emulation (TCG) unless TK_VM_ACCEL=kvm: KVM nested in this machine's own VM hangs in
    the guest's early boot, and emulation boots the kernel in ~5 s."""
    if os.environ.get("TK_VM_ACCEL") == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg,thread=multi"]


def boot(args: list, script: str, workdir: str, timeout: float = 300) -> str:
    """Boot, run `script` as PID 1 (it powers the VM off), return what the console showed."""
    vmlinuz, moddir = kernel()
    initrd = initramfs(moddir, script, os.path.join(workdir, "initrd.cpio"))
    cmdline = ["console=ttyS0", "panic=-1", "quiet", "loglevel=3", *args]
    argv = [
        QEMU, *accel(), "-m", "1024", "-smp", "2", "-nographic", "-no-reboot",
        "-nic", "none", "-serial", "stdio", "-monitor", "none",
        "-kernel", vmlinuz, "-initrd", initrd, "-append", " ".join(cmdline),
        "-virtfs", VIRTFS,
    ]  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise VMError(f"the VM did not power off in {timeout}s:\n{_text(exc.stdout)}") from None
    return _text(proc.stdout) + _text(proc.stderr)


def _text(data) -> str:
    return (data or b"").decode(errors="replace").replace("\r\n", "\n")
