"""Helpers shared by the file modules: modes, ownership, staged writes, backups, diffs.

Used by copy, file, template, lineinfile, blockinfile, replace and get_url. Stdlib only,
Python 3.6+. Nothing here knows about argument parsing: callers pass a `Module` for
`check_mode`, `fail` and `run_command`-style validation.
"""

import grp
import hashlib
import os
import pwd
import shlex
import shutil
import stat
import tempfile
import time

from modules._utils import diffs, files
from modules._utils.checks import ModuleFailed
from modules._utils.command import run_command

# Ansible skips diffs of files bigger than this (its max_file_size_for_diff default).
MAX_DIFF_SIZE = diffs.MAX_DIFF_BYTES
CHUNK = 1024 * 1024


def parse_mode(mode, current=0, is_dir=False):
    """Permission bits from an int, an octal string or symbolic notation (files.parse_mode)."""
    if isinstance(mode, bool):
        raise ModuleFailed("mode must be an octal number or a symbolic mode, not %r" % (mode,))
    return files.parse_mode(mode, current, is_dir)


def format_mode(bits):
    """Ansible's textual mode: '0644'."""
    return "%04o" % (bits & 0o7777)


def _name_of(getter, ident):
    try:
        return getter(ident)[0]
    except KeyError:
        return str(ident)


def path_state(path):
    """Ansible's state of a path: absent, file, directory, link, hard (a multiply-linked file)."""
    try:
        st = os.lstat(path)
    except OSError:
        return "absent"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if st.st_nlink > 1:
        return "hard"
    return "file"


def path_info(path, follow=True):
    """The fields Ansible's file-type modules return about a path (mode, owner, size...)."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return {"path": path, "state": "absent"}
    state = path_state(path)
    if follow and state == "link":
        state = "directory" if stat.S_ISDIR(st.st_mode) else "file"
    return {
        "path": path,
        "state": state,
        "mode": format_mode(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "owner": _name_of(pwd.getpwuid, st.st_uid),
        "group": _name_of(grp.getgrgid, st.st_gid),
        "size": st.st_size,
    }


def apply_attributes(module, path, mode=None, owner=None, group=None, follow=True):
    """Set mode/owner/group on an existing path; True when something changed (or would).

    In check mode nothing is touched. A symlink that is not followed gets lchown only.
    """
    if mode is not None:
        parse_mode(mode)
    try:
        return files.set_attributes(
            path, mode, owner or None, group or None, follow=follow, check=module.check_mode
        )
    except OSError as exc:
        module.fail("cannot set attributes of %s: %s" % (path, exc.strerror or exc), path=path)


def check_mode_value(module, mode):
    """Fail early (before any write) when `mode` cannot be parsed; warn about file options
    tk accepts for compatibility but does not apply (chattr attributes, SELinux context)."""
    if mode is not None:
        parse_mode(mode, 0o644)
    for key in ("attributes", "seuser", "serole", "setype", "selevel"):
        if module.params.get(key):
            module.warn("%s is not supported by tk and was ignored" % key)


sha1_of_file = files.sha1_file


def sha1_of_bytes(data):
    return hashlib.sha1(data).hexdigest()


def backup_file(module, path):
    """Copy `path` to `path.PID.YYYY-MM-DD@HH:MM:SS~` keeping mode, times and owner."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S")
    name = "%s.%d.%s~" % (path, os.getpid(), stamp)
    counter = 1
    while os.path.lexists(name):
        name = "%s.%d.%s.%d~" % (path, os.getpid(), stamp, counter)
        counter += 1
    try:
        shutil.copy2(path, name)
        st = os.stat(path)
        try:
            os.chown(name, st.st_uid, st.st_gid)
        except OSError:
            pass
    except OSError as exc:
        module.fail("could not make a backup of %s: %s" % (path, exc))
    return name


def validate(module, command, path):
    """Run `command` with %s replaced by `path`; fail the module when it exits non-zero."""
    if "%s" not in command:
        module.fail("validate must contain %%s: %s" % command)
    try:
        argv = [part.replace("%s", path) for part in shlex.split(command)]
    except ValueError as exc:
        module.fail("cannot parse validate command %r: %s" % (command, exc))
    rc, out, err = run_command(argv)
    if rc != 0:
        module.fail("failed to validate", exit_status=rc, stdout=out, stderr=err, cmd=argv)


def stage(dest):
    """Open a temp file beside `dest` (same filesystem, so the final rename is atomic)."""
    directory = os.path.dirname(os.path.abspath(dest))
    prefix = ".%s." % os.path.basename(dest)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tktmp", dir=directory)
    return os.fdopen(fd, "wb"), tmp


def commit(tmp, dest):
    """Give `tmp` dest's owner/mode (or the umask default), fsync it and rename it onto dest."""
    try:
        files.copy_identity(dest, tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, dest)
    except BaseException:
        discard(tmp)
        raise
    files.fsync_dir(os.path.dirname(os.path.abspath(dest)))


discard = files.discard  # modules call it as filemod.discard


def write_file(module, dest, data=None, src=None, validate_cmd=None, move_src=False):
    """Replace `dest` atomically with `data` (bytes) or the content of file `src`.

    The new content is validated (`validate_cmd` with %s) in its temp file before the rename,
    so a failed validation leaves dest untouched. `move_src` renames src into place when it is
    on the same filesystem (a transfer temp file the caller owns) and removes it otherwise.
    """
    if move_src and src is not None and validate_cmd is None and _same_fs(src, dest):
        commit(src, dest)
        return
    try:
        fh, tmp = stage(dest)
    except OSError as exc:
        module.fail("cannot write %s: %s" % (dest, exc.strerror or exc), dest=dest)
    try:
        with fh:
            if data is not None:
                fh.write(data)
            else:
                with open(src, "rb") as source:
                    shutil.copyfileobj(source, fh, CHUNK)
        if validate_cmd:
            validate(module, validate_cmd, tmp)
        commit(tmp, dest)
    except BaseException:
        discard(tmp)
        raise
    if move_src and src is not None:
        discard(src)


def _same_fs(src, dest):
    try:
        return os.stat(src).st_dev == os.stat(os.path.dirname(os.path.abspath(dest))).st_dev
    except OSError:
        return False


def diff_text(data):
    if data is None:
        return ""
    if len(data) > MAX_DIFF_SIZE:
        return "(content too large to diff)\n"
    if b"\x00" in data:
        return "(binary content)\n"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "(binary content)\n"


def read_text(module, path, create):
    """(text, existed) of a file to edit; text is '' for a missing file when `create` is set."""
    if not os.path.exists(path):
        if not create:
            module.fail("Destination %s does not exist !" % path, rc=257)
        return "", False
    if os.path.isdir(path):
        module.fail("Path %s is a directory !" % path, rc=256)
    with open(path, "rb") as fh:
        return fh.read().decode("utf-8", "surrogateescape"), True


def save_edit(module, path, before, after, msg, existed=True, encoding="utf-8"):
    """Finish a text edit (lineinfile, blockinfile, replace): diff, backup, validate, atomic
    write, then mode/owner/group. Returns the result dict."""
    p = module.params
    changed = before != after
    result = {"changed": changed, "msg": msg if changed else "", "path": path}
    if module.diff_mode:
        header = "%s (content)" % path
        result["diff"] = diffs.text_diff(before, after, header, header)
    if changed and not module.check_mode:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            os.makedirs(parent)
        if p.get("backup") and existed:
            result["backup"] = result["backup_file"] = backup_file(module, path)
        data = after.encode(encoding, "surrogateescape")
        write_file(module, path, data=data, validate_cmd=p.get("validate"))
    if os.path.exists(path):
        if apply_attributes(module, path, p.get("mode"), p.get("owner"), p.get("group")):
            if changed:
                result["msg"] += " and ownership, perms or SE linux context changed"
            else:
                result["msg"] = "ownership, perms or SE linux context changed"
            result["changed"] = True
    return result
