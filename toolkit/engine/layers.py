"""Layer tarballs <-> directories: safe extraction, OCI/overlay whiteouts, deterministic writer.

`extract(fileobj, dest)` unpacks an (uncompressed) OCI layer tar stream into an empty directory
that becomes an overlayfs lowerdir. It refuses anything that could touch the world outside
`dest`: `..` components, writes through symlinks, hardlinks to paths outside, overlay xattrs;
device nodes are only made when privileged (root), else skipped. OCI whiteouts become overlayfs
whiteouts: `.wh.NAME` -> character device 0/0 `NAME`; `.wh..wh..opq` -> the directory gets
`trusted.overlay.opaque=y`.

`write_layer(src, out)` is the reverse: it turns a directory that uses overlay whiteouts (an
overlay upper dir, or an extracted layer) into an OCI layer tar: entries sorted, numeric owners,
no user/group names, optional fixed mtime, hardlinks kept, so the same tree always gives the same
bytes (and the same diff_id). The containers engineer's `commit` uses it on an upper dir.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import Any, BinaryIO, Callable, Optional

from toolkit.errors import TkError

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_FORBIDDEN_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


class LayerError(TkError):
    """A layer tarball that is malformed or tries to escape its extraction root."""


def _is_privileged() -> bool:
    return os.geteuid() == 0


class _Extractor:
    def __init__(self, dest: str, privileged: bool) -> None:
        self.dest = os.path.abspath(dest)
        self.privileged = privileged
        self.known_dirs = {""}
        self.dir_times: list[tuple[str, int, float]] = []
        self.size = 0
        self.skipped: list[str] = []
        self.ids = (os.geteuid(), os.getegid())

    def create(self, full: str, rel: str, make: Callable[[], Any]) -> Any:
        """`make()` the entry; if the path is taken (an earlier entry of this layer, or a
        symlink planted there), clear it without following links and make it again. The
        usual case costs no lstat."""
        try:
            return make()
        except FileExistsError:
            self.clear(full, rel)
            return make()

    def fail(self, member: tarfile.TarInfo, why: str) -> LayerError:
        return LayerError(f"layer rejected: entry {member.name!r}: {why}")

    def clean(self, member: tarfile.TarInfo, name: str) -> str:
        parts = []
        for part in name.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                raise self.fail(member, "path contains '..'")
            parts.append(part)
        return "/".join(parts)

    def ensure_parent(self, member: tarfile.TarInfo, rel: str) -> str:
        """Make or verify every parent of `rel` as a real directory; return the absolute path."""
        parent = os.path.dirname(rel)
        if parent not in self.known_dirs:
            path = ""
            for part in parent.split("/"):
                path = f"{path}/{part}" if path else part
                if path in self.known_dirs:
                    continue
                full = os.path.join(self.dest, path)
                try:
                    st = os.lstat(full)
                except FileNotFoundError:
                    os.mkdir(full, 0o755)
                else:
                    if not stat.S_ISDIR(st.st_mode):
                        raise self.fail(member, f"parent {path!r} is not a directory (symlink?)")
                self.known_dirs.add(path)
        return os.path.join(self.dest, rel)

    def clear(self, full: str, rel: str, keep_dir: bool = False) -> None:
        """Remove whatever is at `full` (never following a symlink)."""
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            from toolkit.engine.store import remove_tree

            remove_tree(full)
            self.known_dirs = {
                d for d in self.known_dirs if d != rel and not d.startswith(rel + "/")
            }
            self.dir_times = [
                t for t in self.dir_times if t[0] != full and not t[0].startswith(full + "/")
            ]
        else:
            os.unlink(full)

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = self.clean(member, member.name)
        if not rel:
            return
        base = os.path.basename(rel)
        if base.startswith(WHITEOUT_PREFIX):
            self.whiteout(member, rel, base)
            return
        full = self.ensure_parent(member, rel)
        if member.isdir():
            try:
                os.mkdir(full, 0o700)
            except FileExistsError:
                self.clear(full, rel, keep_dir=True)
                if not os.path.isdir(full):
                    os.mkdir(full, 0o700)
            self.known_dirs.add(rel)
            mode = member.mode & (0o7777 if self.privileged else 0o1777)
            self.dir_times.append((full, mode, member.mtime))
        elif member.isreg():
            if self.write_file(tar, member, full, rel):
                return  # attributes already set through the open file
        elif member.issym():
            self.create(full, rel, lambda: os.symlink(member.linkname, full))
        elif member.islnk():
            self.hardlink(member, rel, full)
            return
        elif member.ischr() or member.isblk() or member.isfifo():
            if not self.privileged and not member.isfifo():
                self.skipped.append(rel)
                return
            kind = (
                stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
            )
            dev = os.makedev(member.devmajor, member.devminor)
            self.create(full, rel, lambda: os.mknod(full, kind | 0o600, dev))
        else:
            raise self.fail(member, f"unsupported entry type {member.type!r}")
        self.attributes(member, full)

    def write_file(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, full: str, rel: str
    ) -> bool:
        """Create and fill a regular file; True when its attributes were set too (by fd)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = self.create(full, rel, lambda: os.open(full, flags, 0o600))
        copy_to = getattr(tar.fileobj, "copy_to", None)
        if copy_to is not None:  # a blobstream.Decompressor: data goes from its chunks to fd
            try:
                tar.fileobj.seek(member.offset_data)
                if copy_to(fd, member.size) != member.size:
                    raise LayerError(f"layer truncated inside {member.name!r}")
                self.size += member.size
                self.attributes(member, full, fd)
            finally:
                os.close(fd)
            return True
        with os.fdopen(fd, "wb") as out:
            src = tar.extractfile(member)
            remaining = member.size
            while remaining > 0:
                chunk = src.read(min(remaining, 1 << 20))
                if not chunk:
                    raise LayerError(f"layer truncated inside {member.name!r}")
                out.write(chunk)
                remaining -= len(chunk)
        self.size += member.size
        return False

    def hardlink(self, member: tarfile.TarInfo, rel: str, full: str) -> None:
        target_rel = self.clean(member, member.linkname)
        if not target_rel:
            raise self.fail(member, "hardlink to the layer root")
        target = self.ensure_parent(member, target_rel)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            raise self.fail(
                member, f"hardlink target {member.linkname!r} not in this layer"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise self.fail(member, "hardlink to a directory")
        self.create(full, rel, lambda: os.link(target, full, follow_symlinks=False))

    def whiteout(self, member: tarfile.TarInfo, rel: str, base: str) -> None:
        parent_rel = os.path.dirname(rel)
        if base == OPAQUE:
            full = self.ensure_parent(member, rel)
            parent = os.path.dirname(full)
            os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        name = base[len(WHITEOUT_PREFIX) :]
        if name in ("", ".", "..") or name.startswith(WHITEOUT_PREFIX):
            raise self.fail(member, "malformed whiteout")
        target_rel = f"{parent_rel}/{name}" if parent_rel else name
        full = self.ensure_parent(member, target_rel)
        self.clear(full, target_rel)
        try:
            os.mknod(full, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        except PermissionError:
            raise LayerError(f"cannot create whiteout for {target_rel!r}: needs root") from None
        os.utime(full, (member.mtime, member.mtime), follow_symlinks=False)

    def attributes(self, member: tarfile.TarInfo, full: str, fd: Optional[int] = None) -> None:
        """Owner, xattrs, mode, mtime: through `fd` when the file is open (no path lookups),
        else by path without following a symlink."""
        target = full if fd is None else fd
        nofollow = {"follow_symlinks": False} if fd is None else {}
        if self.privileged:
            if member.uid or member.gid or self.ids != (0, 0):
                os.chown(target, member.uid, member.gid, **nofollow)
            for key, value in member.pax_headers.items():
                if key.startswith("SCHILY.xattr."):
                    self.xattr(member, target, key[len("SCHILY.xattr.") :], value)
        if member.isdir():
            return  # mode and mtime at the end: a read-only dir must still take its children
        if not member.issym():
            os.chmod(target, member.mode & (0o7777 if self.privileged else 0o1777))
            os.utime(target, (member.mtime, member.mtime))
        else:
            os.utime(full, (member.mtime, member.mtime), follow_symlinks=False)

    def xattr(self, member: tarfile.TarInfo, target: Any, name: str, value: str) -> None:
        if name.startswith(_FORBIDDEN_XATTR_PREFIXES):
            raise self.fail(member, f"layer sets the overlay xattr {name!r}")
        raw = value.encode("utf-8", "surrogateescape")
        nofollow = {"follow_symlinks": False} if isinstance(target, str) else {}
        try:
            os.setxattr(target, name, raw, **nofollow)
        except OSError:
            self.skipped.append(f"{member.name} xattr {name}")

    def finish(self) -> None:
        for full, mode, mtime in reversed(self.dir_times):
            if not stat.S_ISDIR(os.lstat(full).st_mode):
                raise LayerError(f"layer rejected: {full!r} is no longer a directory")
            os.chmod(full, mode)
            os.utime(full, (mtime, mtime), follow_symlinks=False)


def extract(fileobj: BinaryIO, dest: str, privileged: Optional[bool] = None) -> dict:
    """Extract an uncompressed layer tar stream into `dest` (which should be empty).

    Returns {"size": bytes of file content, "skipped": [entries not created]}.
    Raises LayerError for anything unsafe or malformed.
    """
    ex = _Extractor(dest, _is_privileged() if privileged is None else privileged)
    try:
        seekable = hasattr(fileobj, "seek") and hasattr(fileobj, "tell")
        mode = "r:" if seekable else "r|"
        with tarfile.open(fileobj=fileobj, mode=mode, bufsize=1 << 16) as tar:
            for member in tar:
                ex.member(tar, member)
    except tarfile.TarError as exc:
        raise LayerError(f"layer is not a valid tar stream: {exc}") from None
    ex.finish()
    return {"size": ex.size, "skipped": ex.skipped}


# --- writing -------------------------------------------------------------------------------


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _xattrs(path: str) -> dict:
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in sorted(names):
        if name.startswith(_FORBIDDEN_XATTR_PREFIXES) or name.startswith("security.selinux"):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class _Writer:
    def __init__(self, src: str, tar: tarfile.TarFile, mtime: Optional[int]) -> None:
        self.src = src
        self.tar = tar
        self.mtime = mtime
        self.inodes: dict[tuple[int, int], str] = {}

    def info(self, name: str, st: os.stat_result) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = st.st_uid, st.st_gid
        ti.uname = ti.gname = ""
        ti.mtime = self.mtime if self.mtime is not None else int(st.st_mtime)
        return ti

    def empty(self, name: str, st: Optional[os.stat_result] = None) -> None:
        ti = tarfile.TarInfo(name)
        ti.mode, ti.uname, ti.gname = 0o644, "", ""
        ti.mtime = self.mtime if self.mtime is not None else int(st.st_mtime) if st else 0
        self.tar.addfile(ti)

    def walk(self, rel: str) -> None:
        full = os.path.join(self.src, rel) if rel else self.src
        for name in sorted(os.listdir(full)):
            child_rel = f"{rel}/{name}" if rel else name
            child = os.path.join(full, name)
            st = os.lstat(child)
            if _is_whiteout(st):
                self.empty(f"{rel}/{WHITEOUT_PREFIX}{name}" if rel else WHITEOUT_PREFIX + name, st)
                continue
            self.entry(child_rel, child, st)
            if stat.S_ISDIR(st.st_mode):
                if _is_opaque(child):
                    self.empty(f"{child_rel}/{OPAQUE}", st)
                self.walk(child_rel)

    def entry(self, rel: str, full: str, st: os.stat_result) -> None:
        ti = self.info(rel, st)
        ti.pax_headers = _xattrs(full)
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in self.inodes:
            ti.type, ti.linkname = tarfile.LNKTYPE, self.inodes[key]
            self.tar.addfile(ti)
            return
        if stat.S_ISDIR(st.st_mode):
            ti.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(st.st_mode):
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(full)
        elif stat.S_ISREG(st.st_mode):
            ti.size = st.st_size
            if st.st_nlink > 1:
                self.inodes[key] = rel
            with open(full, "rb") as fh:
                self.tar.addfile(ti, fh)
            return
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(st.st_mode):
            ti.type = tarfile.FIFOTYPE
        else:
            return  # sockets are not part of an image
        self.tar.addfile(ti)


def write_layer(src: str, out: BinaryIO, mtime: Optional[int] = None) -> None:
    """Write the tree at `src` as an uncompressed OCI layer tar (overlay whiteouts -> .wh.)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20) as tar:
        _Writer(src, tar, mtime).walk("")
