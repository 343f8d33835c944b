"""A container's files from the host side: changes (diff), copying in and out (cp), safely.

Paths inside the container are resolved like the kernel would inside its root: symlinks are
followed relative to the container root and can never lead outside it (`resolve`). Copies
never follow symlinks found inside the copied tree; they are copied as symlinks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
from typing import BinaryIO, Iterator, Optional

from toolkit.engine import rootfs
from toolkit.engine.layers import OPAQUE_XATTR
from toolkit.errors import TkError


class CopyError(TkError):
    pass


# --- diff -----------------------------------------------------------------------------------
def changes(ctrdir: str) -> list[tuple[str, str]]:
    """docker diff: ('A'|'C'|'D', path) for everything the container changed, sorted."""
    upper = rootfs.upper_dir(ctrdir)
    out: list[tuple[str, str]] = []

    def walk(rel: str) -> None:
        full = os.path.join(upper, rel)
        for name in sorted(os.listdir(full)):
            child_rel = f"{rel}/{name}" if rel else name
            st = os.lstat(os.path.join(upper, child_rel))
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(("D", "/" + child_rel))
                continue
            existed = rootfs.find_in_layers(ctrdir, child_rel) is not None
            out.append(("C" if existed else "A", "/" + child_rel))
            if stat.S_ISDIR(st.st_mode):
                walk(child_rel)

    walk("")
    return out


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


# --- mounting -------------------------------------------------------------------------------
@contextlib.contextmanager
def mounted(ctrs, cid: str) -> Iterator[str]:
    """The container's merged root; mounted for the duration if the container is stopped."""
    ctrdir = ctrs.path(cid)
    merged = os.path.join(ctrdir, "merged")
    if rootfs.is_mounted(merged):
        yield merged
        return
    with ctrs.locked_one(cid):
        rootfs.mount_rootfs(ctrdir)
        try:
            yield merged
        finally:
            if not ctrs.state(cid)["Running"]:
                rootfs.unmount_rootfs(ctrdir)


# --- in-container path resolution ----------------------------------------------------------
class View:
    """A container's files as its processes see them, from the host: the merged rootfs with
    the container's mounts over it (`mounts`: {destination: (host source, writable)}: volumes,
    binds, /etc/hosts, /etc/hostname, /etc/resolv.conf). Paths are resolved as the kernel
    would inside the container: symlinks are followed relative to its root and can never lead
    outside it, and a path under a mount is in that mount's source."""

    def __init__(
        self, root: str, mounts: Optional[dict] = None, rootfs_writable: bool = True
    ) -> None:
        self.root = os.path.realpath(root)
        self.rootfs_writable = rootfs_writable
        self.mounts: dict = {}
        for dest in sorted(mounts or {}, key=lambda d: d.rstrip("/").count("/")):
            # where the runtime mounted it: the destination's links resolved, parents first
            self.mounts[self.inside(dest)] = mounts[dest]

    def host(self, path: str, follow_last: bool = True) -> str:
        """The host path of `path` inside the container."""
        return self._host(self.inside(path, follow_last))

    def writable(self, inside: str) -> bool:
        """May the container write at `inside` (a resolved path: `inside()`)?"""
        mount = self.mount_of(inside)
        return self.rootfs_writable if mount is None else self.mounts[mount][1]

    def inside(self, path: str, follow_last: bool = True) -> str:
        """`path` with its symlinks resolved inside the container (absolute, no '..')."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            current = self._host("/" + "/".join([*done, part]))
            if os.path.islink(current) and (parts or follow_last):
                hops += 1
                if hops > 40:
                    raise CopyError(f"too many levels of symbolic links: {path}")
                target = os.readlink(current)
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            done.append(part)
        return "/" + "/".join(done)

    def mount_of(self, inside: str) -> Optional[str]:
        """The destination of the mount `inside` is under (None: the rootfs)."""
        best = None
        for dest in self.mounts:
            if inside == dest or inside.startswith(dest.rstrip("/") + "/"):
                if best is None or len(dest) > len(best):
                    best = dest
        return best

    def _host(self, inside: str) -> str:
        mount = self.mount_of(inside)
        if mount is None:
            return os.path.join(self.root, inside.lstrip("/"))
        rest = inside[len(mount) :].lstrip("/")
        return os.path.join(self.mounts[mount][0], rest) if rest else self.mounts[mount][0]


def resolve(root: str, path: str, follow_last: bool = True) -> str:
    """Host path for `path` inside `root` (no mounts), following symlinks as if `root` were /."""
    return View(root).host(path, follow_last)


ETC_FILES = (
    ("/etc/hosts", "HostsPath"),
    ("/etc/hostname", "HostnamePath"),
    ("/etc/resolv.conf", "ResolvConfPath"),
)


def view_of(merged: str, rec: dict) -> View:
    """The view of a container from its record: its Mounts, and its /etc files once made."""
    mounts = {m["Destination"]: (m["Source"], bool(m.get("RW", True))) for m in rec["Mounts"]}
    for dest, key in ETC_FILES:
        source = rec.get(key)
        if source and os.path.exists(source):
            mounts[dest] = (source, True)
    return View(merged, mounts, not rec["HostConfig"].get("ReadonlyRootfs"))


# --- copy out -------------------------------------------------------------------------------
def copy_out(view: View, src: str, dest: str, follow: bool) -> None:
    inside = view.inside(src, follow_last=follow or src.endswith("/"))
    real = view.host(inside, follow_last=False)
    if not os.path.lexists(real):
        raise CopyError(f"Error: No such container:path: {src}")
    target = dest
    if os.path.isdir(dest) and not src.endswith("/."):
        target = os.path.join(dest, os.path.basename(inside) or "root")
    if os.path.isdir(real) and not os.path.islink(real):
        if src.endswith("/.") and os.path.isdir(dest):
            shutil.copytree(real, dest, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copytree(real, target, symlinks=True, dirs_exist_ok=True)
    elif os.path.islink(real):
        if os.path.lexists(target):
            os.unlink(target)
        os.symlink(os.readlink(real), target)
    else:
        if not os.path.isdir(os.path.dirname(os.path.abspath(target)) or "."):
            raise CopyError(f"Error: destination directory does not exist: {dest}")
        shutil.copy2(real, target, follow_symlinks=False)


def tar_out(view: View, src: str, out: BinaryIO, follow: bool) -> None:
    inside = view.inside(src, follow_last=follow)
    real = view.host(inside, follow_last=False)
    if not os.path.lexists(real):
        raise CopyError(f"Error: No such container:path: {src}")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(real, arcname=os.path.basename(inside) or ".", recursive=True)


# --- copy in --------------------------------------------------------------------------------
def copy_in(view: View, src: str, dest: str, keep_owner: bool = False) -> None:
    if not os.path.lexists(src):
        raise CopyError(f"Error: no such file or directory: {src}")
    inside = view.inside(dest)
    if os.path.isdir(view.host(inside)):
        if not src.endswith("/."):
            inside = inside.rstrip("/") + "/" + os.path.basename(src.rstrip("/"))
    elif not os.path.isdir(os.path.dirname(view.host(inside))):
        raise CopyError(f"Error: destination directory {os.path.dirname(dest)} does not exist")
    inside = view.inside(inside, follow_last=False)
    _check_writable(view, inside)
    target = view.host(inside, follow_last=False)
    if os.path.isdir(src) and not os.path.islink(src):
        _copy_tree_in(src, target)
    elif os.path.islink(src):
        if os.path.lexists(target):
            os.unlink(target)
        os.symlink(os.readlink(src), target)
    else:
        if os.path.islink(target):
            os.unlink(target)
        shutil.copy2(src, target, follow_symlinks=False)
    if not keep_owner:
        _chown_tree(target, 0, 0)


def _check_writable(view: View, inside: str) -> None:
    if view.writable(inside):
        return
    if view.mount_of(inside) is None:
        raise CopyError("Error response from daemon: container rootfs is marked read-only")
    raise CopyError("Error response from daemon: mounted volume is marked read-only")


def _copy_tree_in(src: str, target: str) -> None:
    if os.path.islink(target):
        os.unlink(target)
    os.makedirs(target, exist_ok=True)
    for name in sorted(os.listdir(src)):
        s = os.path.join(src, name)
        t = os.path.join(target, name)
        if os.path.islink(t):
            os.unlink(t)
        if os.path.islink(s):
            if os.path.lexists(t):
                os.unlink(t)
            os.symlink(os.readlink(s), t)
        elif os.path.isdir(s):
            _copy_tree_in(s, t)
        else:
            shutil.copy2(s, t, follow_symlinks=False)
    shutil.copystat(src, target)


def _chown_tree(path: str, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)
    if os.path.isdir(path) and not os.path.islink(path):
        for base, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(base, name), uid, gid)


def tar_in(view: View, dest: str, src: BinaryIO) -> None:
    """Extract a tar stream into a directory of the container, refusing escapes."""
    base = view.inside(dest)
    if not os.path.isdir(view.host(base)):
        raise CopyError(f"Error: destination {dest} must be a directory for a tar stream")
    with tarfile.open(fileobj=src, mode="r|*") as tar:
        for member in tar:
            name = member.name.lstrip("/")
            if any(p == ".." for p in name.split("/")):
                raise CopyError(f"refusing archive entry with '..': {member.name}")
            parent_in = view.inside(f"{base}/{os.path.dirname(name)}")
            _check_writable(view, parent_in)
            parent = view.host(parent_in)
            os.makedirs(parent, exist_ok=True)
            target = os.path.join(parent, os.path.basename(name))
            if os.path.islink(target) or (os.path.lexists(target) and not member.isdir()):
                if not os.path.isdir(target) or os.path.islink(target):
                    os.unlink(target)
            if member.isdev():
                continue
            if member.islnk():
                os.link(view.host(f"{base}/{member.linkname}", follow_last=False), target)
                continue
            member.name = os.path.basename(name) or "."
            tar.extract(member, parent, set_attrs=True)
