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

import _thread
import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Optional

MNT_DETACH = 2
PAGE = 4096  # mount(2)'s limit on the option string
_cwd_lock = _thread.allocate_lock()  # threading's import: ~1 ms of `tke run`


def _call(name: str, *args) -> int:
    """libc `name`(args) with int / bytes / None arguments; -errno on failure, else 0. Through
    runtimeproc's `_ctypes` calls (`ctypes` costs ~1.5 ms of imports, `_ctypes` ~0.8 ms, made
    at the first call: `tke run` leaves the mount to the shim, ShimMount)."""
    from toolkit.engine import runtimeproc

    if runtimeproc.libc(name, *args) == 0:
        return 0
    return -runtimeproc.errno()


def _check(ret: int, what: str) -> None:
    if ret != 0:
        raise OSError(-ret, f"{what}: {os.strerror(-ret)}")


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    from toolkit.engine.runtimeproc import ulong

    args = (source.encode(), target.encode(), fstype.encode(), ulong(flags), data.encode())
    ret = _call("mount", *args)
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


class ShimMount:
    """A new container's rootfs left for its shim to mount (`tke run` with the shim it launched
    first: shimproc.ShimProc.send_mount, shim.mount_rootfs): `_ctypes` (~0.8 ms) and the mount
    itself are then off the client's way; the shim mounts while tke writes the container's
    files and config. Takes Mounting's place: `wait()` is the path config.json names,
    `request()` what the shim mounts, `files` the image's files tke reads (from the layers:
    for_container's `needs`)."""

    def __init__(self, ctrdir: str, options: str, volatile: bool) -> None:
        self.ctrdir = ctrdir
        self.merged = os.path.join(ctrdir, "merged")
        self.options = options
        self.volatile = volatile
        self.files: list = []

    @classmethod
    def for_container(cls, ctrdir: str, volatile: bool, needs: tuple = ()) -> Optional[ShimMount]:
        """None when tke had better mount it: its options need a working directory (hundreds
        of layers), or one of the files `needs` (paths relative to /) cannot be found in the
        layers simply (a symlink on the way): then it is read from the mounted rootfs."""
        options = _absolute_options(ctrdir)
        if options is None:
            return None
        deferred = cls(ctrdir, options, volatile)
        deferred.files = [deferred.image_file(rel) for rel in needs]
        return None if None in deferred.files else deferred

    def wait(self) -> str:
        return self.merged

    def settle(self) -> None:
        pass

    def request(self) -> dict:
        """What the shim mounts (shim.mount_rootfs)."""
        return {"target": self.merged, "options": self.options, "volatile": self.volatile}

    def image_file(self, rel: str) -> Optional[str]:
        """Where the rootfs's file `rel` (relative to /) comes from: its path in the upper
        dir or the topmost layer that has it, "" if it is not there (never was, or a
        whiteout or an opaque directory hides it), None if the layers cannot say it simply
        (a symlink or an odd file on the way)."""
        links = os.path.join(self.ctrdir, "l")
        layers = [os.path.join(self.ctrdir, "upper")]
        layers += [os.path.join(links, str(i)) for i in reversed(range(lower_count(self.ctrdir)))]
        for layer in layers:
            found = _layer_file(layer, rel.split("/"))
            if found is _HIDDEN:
                return ""
            if found != "":
                return found
        return ""


_HIDDEN = object()  # _layer_file: gone from this layer down (a whiteout, an opaque directory)


def _layer_file(layer: str, parts: list):
    """`parts` in one layer: the file's path, "" if not in this layer, _HIDDEN if this layer
    hides the lower ones' (a whiteout, an opaque directory), None if it is not a plain path."""
    path, opaque = layer, False
    for i, part in enumerate(parts):
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return _HIDDEN if opaque else ""
        except OSError:
            return None
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return _HIDDEN  # an overlay whiteout
        if i == len(parts) - 1:
            return path if stat.S_ISREG(st.st_mode) else None
        if not stat.S_ISDIR(st.st_mode):
            return None  # a symlink on the way: followed only in the mounted rootfs
        opaque = opaque or _is_opaque(path)
    return None


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


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
