"""A container's root filesystem: overlayfs over the image layers, private upper/work dirs.

    ctrdir/l/0 .. l/N-1   short symlinks to the image's layer dirs (bottom -> top), then to
                           the init layer (mount points: /proc /sys /dev /etc/hosts ...):
                           STORE/init, shared by all containers (it is a lower layer, never
                           written; older containers have their own ctrdir/init)
    ctrdir/upper, work     the container's writable layer (overlay upperdir/workdir)
    ctrdir/merged          the mount point (config.json's root.path)

The mount option string is limited to one page (4096 bytes): with 64-hex layer paths that is
only ~40 layers. The layers are therefore named by short symlinks, given by their absolute
paths (`ctrdir/l/N`: some 40 layers in /var/lib/tke) or, when those do not fit, relative to
`ctrdir/l` (mount(2) is then called with that as the working directory), which fits the
kernel's own limit of 500 lower layers.
"""

from __future__ import annotations

import _ctypes
import _thread
import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Optional

MNT_DETACH = 2
PAGE = 4096  # mount(2)'s limit on the option string
_cwd_lock = _thread.allocate_lock()  # threading's import: ~1 ms of `tke run`


# libc's mount/umount2 through `_ctypes` directly: `ctypes` costs ~1.5 ms of imports on every
# `tke run`, more than the calls themselves.
class _Int(_ctypes._SimpleCData):
    _type_ = "i"


class _ULong(_ctypes._SimpleCData):
    _type_ = "L"


class _Func(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _Int


class _Libc:
    _handle = None


def _call(name: str, *args) -> int:
    """libc `name`(args) with int / bytes / None arguments; -errno on failure, else 0."""
    if _Libc._handle is None:
        _Libc._handle = _ctypes.dlopen(None, 0)
    if _Func((name, _Libc))(*args) == 0:
        return 0
    return -_ctypes.get_errno()


def _check(ret: int, what: str) -> None:
    if ret != 0:
        raise OSError(-ret, f"{what}: {os.strerror(-ret)}")


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    ret = _call(
        "mount", source.encode(), target.encode(), fstype.encode(), _ULong(flags), data.encode()
    )
    _check(ret, f"mount {fstype} on {target}")


def umount(target: str) -> None:
    """Unmount (lazily if busy); no error if it is not mounted."""
    ret = _call("umount2", target.encode(), 0)
    if ret == -errno.EBUSY:
        _check(_call("umount2", target.encode(), MNT_DETACH), f"umount {target}")
    elif ret not in (0, -errno.EINVAL, -errno.ENOENT):
        _check(ret, f"umount {target}")


def is_mounted(path: str) -> bool:
    """Is something mounted at `path` (tke's overlays: another device than the directory
    holding it)? Two stats instead of a realpath and a read of /proc/self/mountinfo."""
    return os.path.ismount(path)


def mounts_under(prefix: str) -> list[str]:
    """Mount points at or below `prefix` (for leak checks and cleanup)."""
    prefix = os.path.realpath(prefix).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4]
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def prepare(ctrdir: str, layer_dirs: list[str], init_dir: Optional[str] = None) -> None:
    """Make the container's dirs and layer links (once, at create). `init_dir`: a shared init
    layer (made if missing); None: the container's own ctrdir/init."""
    links = os.path.join(ctrdir, "l")
    os.makedirs(links, exist_ok=True)
    for name in ("upper", "work", "merged"):
        os.makedirs(os.path.join(ctrdir, name), mode=0o755, exist_ok=True)
    upper = os.path.join(ctrdir, "upper")
    if os.stat(upper).st_mode & 0o7777 != 0o755:  # a umask took bits away
        os.chmod(upper, 0o755)
    init = shared_init_layer(init_dir) if init_dir else make_init_layer(ctrdir)
    layer_dirs = list(layer_dirs) + [init]
    for i, path in enumerate(layer_dirs):
        link = os.path.join(links, str(i))
        if not os.path.lexists(link):
            os.symlink(path, link)


def make_init_layer(ctrdir: str, name: str = "init") -> str:
    """docker's "-init" layer: mount points tke and the runtime need, kept out of the upper dir
    (so diff and commit show only what the container changed)."""
    init = os.path.join(ctrdir, name)
    for name in ("proc", "sys", "dev", "etc"):
        os.makedirs(os.path.join(init, name), mode=0o755, exist_ok=True)
    for name in ("hosts", "hostname", "resolv.conf"):
        open(os.path.join(init, "etc", name), "a").close()
    os.chmod(init, 0o755)
    return init


def shared_init_layer(path: str) -> str:
    """The init layer at `path`, made once (staged and renamed into place, so no container
    ever mounts a half-made one): eight fewer files and directories per container, at ~0.2 ms
    each on a journalled disk."""
    if os.path.isdir(path):
        return path
    parent, base = os.path.split(path)
    staged = make_init_layer(parent, f".{base}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        os.rename(staged, path)
    except OSError:  # another tke made it first
        from toolkit.engine.store import remove_tree

        remove_tree(staged)
        if not os.path.isdir(path):
            raise
    return path


def lower_count(ctrdir: str) -> int:
    return len([n for n in os.listdir(os.path.join(ctrdir, "l")) if n.isdigit()])


def mount_rootfs(ctrdir: str, volatile: bool = False) -> str:
    """Mount the overlay at ctrdir/merged (idempotent). Returns the merged path.

    `volatile` (for --rm containers, as podman does): overlayfs skips syncing the upper
    filesystem, which it otherwise does at unmount — a syncfs of the whole store filesystem,
    often tens of ms on a busy host. Nothing of such a container survives it anyway."""
    merged = os.path.join(ctrdir, "merged")
    if is_mounted(merged):
        return merged
    absolute = _absolute_options(ctrdir)
    if absolute is not None:
        _mount_overlay(merged, absolute, volatile)
        return merged
    count = lower_count(ctrdir)
    lower = ":".join(str(i) for i in reversed(range(count)))
    with _cwd_lock:
        old = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.chdir(os.path.join(ctrdir, "l"))
            _mount_overlay(merged, f"lowerdir={lower},upperdir=../upper,workdir=../work", volatile)
        finally:
            os.fchdir(old)
            os.close(old)
    return merged


def _absolute_options(ctrdir: str) -> Optional[str]:
    """The overlay's options with absolute paths (no working directory needed), or None when
    they would not fit in the one page mount(2) takes."""
    links = os.path.join(ctrdir, "l")
    lower = ":".join(os.path.join(links, str(i)) for i in reversed(range(lower_count(ctrdir))))
    options = f"lowerdir={lower},upperdir={ctrdir}/upper,workdir={ctrdir}/work"
    return options if len(options) < PAGE - len(",volatile") else None


def _mount_overlay(merged: str, options: str, volatile: bool) -> None:
    if volatile:
        try:
            mount("overlay", merged, "overlay", 0, options + ",volatile")
            return
        except OSError:  # a kernel before 5.10, or a volatile mount's leftovers
            pass
    mount("overlay", merged, "overlay", 0, options)


class Mounting:
    """`mount_rootfs` while the caller goes on: the mount(2) call lets go of the GIL, so the
    kernel's ~0.6 ms of work overlaps the caller's Python (`tke run` writes the container's
    config meanwhile). `merged = Mounting(ctrdir, volatile).wait()` raises what
    mount_rootfs raised. A rootfs whose options need a working directory (hundreds of
    layers) is mounted at once, in the caller's thread: the working directory is the
    process's, not the thread's."""

    def __init__(self, ctrdir: str, volatile: bool = False) -> None:
        self.merged = os.path.join(ctrdir, "merged")
        self._error: Optional[BaseException] = None
        self._done = _thread.allocate_lock()
        self._done.acquire()
        options = None if is_mounted(self.merged) else _absolute_options(ctrdir)
        if options is None:
            try:
                mount_rootfs(ctrdir, volatile)
            finally:
                self._done.release()
            return
        _thread.start_new_thread(self._mount, (options, volatile))

    def _mount(self, options: str, volatile: bool) -> None:
        try:
            _mount_overlay(self.merged, options, volatile)
        except BaseException as exc:  # handed to wait()
            self._error = exc
        finally:
            self._done.release()

    def wait(self) -> str:
        """The merged path once mounted (the mount's error, if it failed)."""
        self.settle()
        if self._error is not None:
            raise self._error
        return self.merged

    def settle(self) -> None:
        """Wait until the mount is done or failed (before undoing it)."""
        with self._done:
            pass


def unmount_rootfs(ctrdir: str) -> None:
    """Detach the rootfs (MNT_DETACH: a plain umount waits for an RCU grace period, often tens
    of ms; the container is gone, so nothing can still be using the mount)."""
    merged = os.path.join(ctrdir, "merged")
    # a detached mount takes every mount below it along: no need to read mountinfo unless
    # `merged` itself was not a mount point (then something may still be mounted under it)
    detached = False
    while True:
        ret = _call("umount2", merged.encode(), MNT_DETACH)
        if ret != 0:
            break
        detached = True  # again: a mount stacked on the same point
    if ret not in (-errno.EINVAL, -errno.ENOENT):
        _check(ret, f"umount {merged}")
    if detached:
        return
    for point in sorted(mounts_under(merged), reverse=True):
        ret = _call("umount2", point.encode(), MNT_DETACH)
        if ret not in (0, -errno.EINVAL, -errno.ENOENT):
            _check(ret, f"umount {point}")


def upper_dir(ctrdir: str) -> str:
    return os.path.join(ctrdir, "upper")


def layer_links(ctrdir: str) -> list[str]:
    """The lower layer directories, bottom -> top."""
    links = os.path.join(ctrdir, "l")
    return [os.path.realpath(os.path.join(links, str(i))) for i in range(lower_count(ctrdir))]


def find_in_layers(ctrdir: str, rel: str) -> Optional[str]:
    """The topmost lower layer path holding `rel` (for reading files of a stopped container)."""
    for layer in reversed(layer_links(ctrdir)):
        path = os.path.join(layer, rel.lstrip("/"))
        if os.path.lexists(path):
            return path
    return None
