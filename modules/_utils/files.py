"""File helpers for modules: atomic writes, mode/owner/group, checksums, stat (stdlib, 3.6+)."""

import errno
import grp
import hashlib
import os
import pwd
import re
import stat
import tempfile

from modules._utils.checks import ModuleFailed

CHUNK = 1 << 20


def sha1_file(path):
    """Hex sha1 of a file's content, read in chunks."""
    return hash_file(path, "sha1")


def hash_file(path, algorithm="sha1"):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, data, mode=None, owner=None, group=None):
    """Write bytes to path via a temp file in the same dir + fsync + rename.

    An existing file keeps its owner and mode unless told otherwise; a new file gets
    0666 & ~umask. Readers never see a half-written file.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tk-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        copy_identity(path, tmp)
        set_attributes(tmp, mode, owner, group)
        os.rename(tmp, path)
    except BaseException:
        discard(tmp)
        raise
    fsync_dir(directory)


def copy_identity(existing, target):
    """Give `target` the owner/mode of `existing` (or the umask default if it does not exist)."""
    try:
        st = os.stat(existing)
    except OSError:
        os.chmod(target, 0o666 & ~_umask())
        return
    os.chmod(target, stat.S_IMODE(st.st_mode))
    try:
        os.chown(target, st.st_uid, st.st_gid)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise


def fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def discard(path):
    """Remove a file if it is there (temp files on the way out)."""
    try:
        os.unlink(path)
    except OSError:
        pass


_SYMBOLIC = re.compile(r"^([ugoa]*)([-+=])([rwxXst]*|[ugo])$")
_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o1007}
_PERM = {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "t": 0o1000}


def parse_mode(mode, current=0, is_dir=False):
    """New permission bits from an int, an octal string ('0644', '644') or symbolic
    ('u+rwx,g-w,o=r', 'a+X'). `current` is the existing mode (for symbolic changes)."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        return mode & 0o7777
    text = str(mode).strip()
    if re.match(r"^0?o?[0-7]{1,4}$", text):
        return int(text.replace("o", ""), 8) & 0o7777
    result = stat.S_IMODE(current)
    for clause in text.split(","):
        match = _SYMBOLIC.match(clause.strip())
        if not match:
            raise ModuleFailed("bad symbolic permission for mode: %s" % mode)
        who, op, perms = match.groups()
        if not who or who == "a":
            who = "ugo"
        mask = 0
        for part in who:
            mask |= _WHO[part]
        bits = _perm_bits(perms, result, is_dir)
        if op == "+":
            result |= bits & mask
        elif op == "-":
            result &= ~(bits & mask)
        else:
            result = (result & ~mask) | (bits & mask)
    return result & 0o7777


def _perm_bits(perms, current, is_dir):
    if perms in ("u", "g", "o"):
        shift = {"u": 6, "g": 3, "o": 0}[perms]
        three = (current >> shift) & 0o7
        return three * 0o111
    bits = 0
    for char in perms:
        if char == "X":
            if is_dir or current & 0o111:
                bits |= 0o111
        else:
            bits |= _PERM[char]
    return bits


def uid_of(owner):
    if owner is None:
        return -1
    if isinstance(owner, int) or str(owner).isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise ModuleFailed("chown failed: failed to look up user %s" % owner) from None


def gid_of(group):
    if group is None:
        return -1
    if isinstance(group, int) or str(group).isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ModuleFailed("chgrp failed: failed to look up group %s" % group) from None


def set_attributes(path, mode=None, owner=None, group=None, follow=True, check=False):
    """Apply mode/owner/group to path; return True if anything changed (or would, in check)."""
    st = os.stat(path) if follow else os.lstat(path)
    changed = False
    uid, gid = uid_of(owner), gid_of(group)
    if (uid != -1 and uid != st.st_uid) or (gid != -1 and gid != st.st_gid):
        changed = True
        if not check:
            try:
                if follow:
                    os.chown(path, uid, gid)
                else:
                    os.lchown(path, uid, gid)
            except OSError as exc:
                raise ModuleFailed("chown failed: %s" % exc, path=path) from None
    if mode is not None and not (stat.S_ISLNK(st.st_mode) and not follow):
        new = parse_mode(mode, st.st_mode, stat.S_ISDIR(st.st_mode))
        if new != stat.S_IMODE(st.st_mode):
            changed = True
            if not check:
                os.chmod(path, new)
    return changed


def _name(getter, ident):
    try:
        return getter(ident)[0]
    except KeyError:
        return None


def stat_info(path, follow=False, get_checksum=True, checksum_algorithm="sha1"):
    """The stat module's `stat` dict for path ({'exists': False} when missing)."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return {"exists": False}
        raise
    mode = st.st_mode
    info = {
        "exists": True,
        "path": path,
        "mode": "%04o" % stat.S_IMODE(mode),
        "isdir": stat.S_ISDIR(mode),
        "isreg": stat.S_ISREG(mode),
        "islnk": stat.S_ISLNK(mode),
        "ischr": stat.S_ISCHR(mode),
        "isblk": stat.S_ISBLK(mode),
        "isfifo": stat.S_ISFIFO(mode),
        "issock": stat.S_ISSOCK(mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "pw_name": _name(pwd.getpwuid, st.st_uid),
        "gr_name": _name(grp.getgrgid, st.st_gid),
        "size": st.st_size,
        "inode": st.st_ino,
        "dev": st.st_dev,
        "nlink": st.st_nlink,
        "mtime": st.st_mtime,
        "atime": st.st_atime,
        "ctime": st.st_ctime,
        "wusr": bool(mode & stat.S_IWUSR),
        "rusr": bool(mode & stat.S_IRUSR),
        "xusr": bool(mode & stat.S_IXUSR),
        "wgrp": bool(mode & stat.S_IWGRP),
        "rgrp": bool(mode & stat.S_IRGRP),
        "xgrp": bool(mode & stat.S_IXGRP),
        "woth": bool(mode & stat.S_IWOTH),
        "roth": bool(mode & stat.S_IROTH),
        "xoth": bool(mode & stat.S_IXOTH),
        "isuid": bool(mode & stat.S_ISUID),
        "isgid": bool(mode & stat.S_ISGID),
        "readable": os.access(path, os.R_OK),
        "writeable": os.access(path, os.W_OK),
        "executable": os.access(path, os.X_OK),
    }
    if stat.S_ISLNK(mode):
        info["lnk_source"] = os.path.realpath(path)
        info["lnk_target"] = os.readlink(path)
    if get_checksum and stat.S_ISREG(mode) and os.access(path, os.R_OK):
        info["checksum"] = hash_file(path, checksum_algorithm)
    return info
