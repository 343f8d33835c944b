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
from typing import BinaryIO, Iterator

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


# --- in-root path resolution ----------------------------------------------------------------
def resolve(root: str, path: str, follow_last: bool = True) -> str:
    """Host path for `path` inside `root`, following symlinks as if `root` were /."""
    root = os.path.realpath(root)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        current = os.path.join(root, *done, part)
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
    return os.path.join(root, *done)


def _inside(root: str, host_path: str) -> str:
    return "/" + os.path.relpath(host_path, os.path.realpath(root)).lstrip(".")


# --- copy out -------------------------------------------------------------------------------
def copy_out(root: str, src: str, dest: str, follow: bool) -> None:
    real = resolve(root, src, follow_last=follow or src.endswith("/"))
    if not os.path.lexists(real):
        raise CopyError(f"Error: No such container:path: {src}")
    target = dest
    if os.path.isdir(dest) and not src.endswith("/."):
        target = os.path.join(dest, os.path.basename(real.rstrip("/")) or "root")
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


def tar_out(root: str, src: str, out: BinaryIO, follow: bool) -> None:
    real = resolve(root, src, follow_last=follow)
    if not os.path.lexists(real):
        raise CopyError(f"Error: No such container:path: {src}")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(real, arcname=os.path.basename(real.rstrip("/")) or ".", recursive=True)


# --- copy in --------------------------------------------------------------------------------
def copy_in(root: str, src: str, dest: str, keep_owner: bool = False) -> None:
    if not os.path.lexists(src):
        raise CopyError(f"Error: no such file or directory: {src}")
    real = resolve(root, dest)
    if os.path.isdir(real):
        target = (
            real if src.endswith("/.") else os.path.join(real, os.path.basename(src.rstrip("/")))
        )
    else:
        parent = os.path.dirname(real)
        if not os.path.isdir(parent):
            raise CopyError(f"Error: destination directory {os.path.dirname(dest)} does not exist")
        target = real
    target = resolve(root, _inside(root, target), follow_last=False)
    if os.path.isdir(src) and not os.path.islink(src):
        _copy_tree_in(root, src, target)
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


def _copy_tree_in(root: str, src: str, target: str) -> None:
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
            _copy_tree_in(root, s, t)
        else:
            shutil.copy2(s, t, follow_symlinks=False)
    shutil.copystat(src, target)


def _chown_tree(path: str, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)
    if os.path.isdir(path) and not os.path.islink(path):
        for base, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(base, name), uid, gid)


def tar_in(root: str, dest: str, src: BinaryIO) -> None:
    """Extract a tar stream into a directory of the container, refusing escapes."""
    base = resolve(root, dest)
    if not os.path.isdir(base):
        raise CopyError(f"Error: destination {dest} must be a directory for a tar stream")
    with tarfile.open(fileobj=src, mode="r|*") as tar:
        for member in tar:
            name = member.name.lstrip("/")
            if any(p == ".." for p in name.split("/")):
                raise CopyError(f"refusing archive entry with '..': {member.name}")
            parent = resolve(root, _inside(root, os.path.join(base, os.path.dirname(name))))
            os.makedirs(parent, exist_ok=True)
            target = os.path.join(parent, os.path.basename(name))
            if os.path.islink(target) or (os.path.lexists(target) and not member.isdir()):
                if not os.path.isdir(target) or os.path.islink(target):
                    os.unlink(target)
            if member.isdev():
                continue
            if member.islnk():
                link_src = resolve(root, _inside(root, os.path.join(base, member.linkname)), False)
                os.link(link_src, target)
                continue
            member.name = os.path.basename(name) or "."
            tar.extract(member, parent, set_attrs=True)
