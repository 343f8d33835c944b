"""Copy a file (or inline content) to a path on the target, atomically and idempotently."""

import os

from modules._utils import diffs, filemod

ARGUMENT_SPEC = {
    "src": {"type": "path"},
    "content": {"type": "str"},
    "dest": {"type": "path", "required": True},
    "backup": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": True, "aliases": ["thirsty"]},
    "mode": {"type": "raw"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "remote_src": {"type": "bool", "default": False},
    "validate": {"type": "str"},
    "directory_mode": {"type": "raw"},
    "follow": {"type": "bool", "default": False},
    "local_follow": {"type": "bool", "default": True},
    "checksum": {"type": "str"},
    "decrypt": {"type": "bool", "default": True},
    "unsafe_writes": {"type": "bool", "default": False},
    "attributes": {"type": "str", "aliases": ["attr"]},
    "seuser": {"type": "str"},
    "serole": {"type": "str"},
    "setype": {"type": "str"},
    "selevel": {"type": "str"},
    "_original_basename": {"type": "str"},
}
MUTUALLY_EXCLUSIVE = [["content", "src"]]
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True  # pure-Python file editing: no fork needed
FREE_FORM = None


def main(module):
    p = module.params
    if p["mode"] == "preserve":
        src = p["src"] if p["remote_src"] and p["src"] and os.path.exists(p["src"]) else None
        p["mode"] = filemod.format_mode(os.stat(src).st_mode) if src else None
    filemod.check_mode_value(module, p["mode"])
    filemod.check_mode_value(module, p["directory_mode"])
    if p["src"] is not None and p["remote_src"] and os.path.isdir(p["src"]):
        return copy_directory(module, p["src"], p["dest"])
    source = _Source(module)
    try:
        dest = _resolve_dest(module, source)
        return copy_one(module, source, dest)
    finally:
        _cleanup(source)


class _Source(object):
    """Where the new content comes from: inline content, a file on the target, or only a checksum
    (the controller already knows the content matches or is in check mode and sent nothing)."""

    def __init__(self, module):
        p = module.params
        self.data = None
        self.path = None
        self.consume = False
        if p["content"] is not None:
            self.data = p["content"].encode("utf-8")
            self.checksum = filemod.sha1_of_bytes(self.data)
        elif p["src"] is not None:
            self.path = p["src"]
            if not os.path.exists(self.path):
                module.fail("Source %s not found" % self.path)
            if not os.access(self.path, os.R_OK):
                module.fail("Source %s not readable" % self.path)
            self.checksum = filemod.sha1_of_file(self.path)
            self.consume = not p["remote_src"]
        elif p["checksum"] is not None:
            self.checksum = p["checksum"]
        else:
            module.fail("one of the following is required: src, content")
        if p["checksum"] and p["checksum"] != self.checksum:
            module.fail(
                "Copied file does not match the expected checksum. Transfer failed.",
                checksum=self.checksum,
                expected_checksum=p["checksum"],
            )

    @property
    def basename(self):
        return os.path.basename(self.path) if self.path else None


def _resolve_dest(module, source):
    """dest, or dest/BASENAME when dest is a directory or ends with a slash."""
    p = module.params
    dest = p["dest"]
    if dest.endswith("/") or os.path.isdir(dest):
        base = p["_original_basename"] or source.basename
        if source.data is not None and not p["_original_basename"]:
            module.fail("can not use content with a dir as dest")
        if base is None:
            module.fail("dest %s is a directory and no source file name is known" % dest)
        if not os.path.exists(dest):
            _make_dirs(module, dest)
        dest = os.path.join(dest, base)
    parent = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(parent) and not _parent_may_appear(module):
        module.fail("Destination directory %s does not exist" % parent)
    if p["follow"] and os.path.islink(dest):
        dest = os.path.realpath(dest)
    return dest


def _parent_may_appear(module):
    """In check mode a missing parent directory may be made by an earlier (skipped) task:
    like Ansible's action plugin, predict a change for a controller-side source; a remote_src
    copy fails as Ansible's module does, unless dest ends with '/' (the module makes it)."""
    p = module.params
    return module.check_mode and (not p["remote_src"] or p["dest"].endswith("/"))


def _make_dirs(module, path):
    if module.check_mode:
        return
    todo = []
    current = os.path.abspath(path)
    while not os.path.exists(current):
        todo.append(current)
        current = os.path.dirname(current)
    for directory in reversed(todo):
        os.mkdir(directory)
        if module.params["directory_mode"] is not None:
            filemod.apply_attributes(module, directory, module.params["directory_mode"])
        filemod.apply_attributes(
            module, directory, None, module.params["owner"], module.params["group"]
        )


def copy_one(module, source, dest):
    """Put `source` at `dest` unless it already has that content; then fix attributes."""
    p = module.params
    result = {"dest": dest, "changed": False}
    if p["src"] is not None:
        result["src"] = p["src"]
    exists = os.path.lexists(dest)
    if exists and os.path.isdir(dest):
        module.fail("dest %s is a directory" % dest)
    if exists and not p["force"]:
        _cleanup(source)
        result.update(filemod.path_info(dest))
        result["msg"] = "file already exists"
        return _finish(result, dest)
    old_checksum = filemod.sha1_of_file(dest) if os.path.isfile(dest) else None
    if old_checksum != source.checksum:
        result["changed"] = True
        if module.diff_mode:
            result["diff"] = _diff(dest, source)
        if not module.check_mode:
            if source.data is None and source.path is None:
                module.fail(
                    "%s does not have the expected content and no source was sent; run again" % dest
                )
            if p["backup"] and exists:
                result["backup_file"] = filemod.backup_file(module, dest)
            filemod.write_file(
                module,
                dest,
                data=source.data,
                src=source.path,
                validate_cmd=p["validate"],
                move_src=source.consume,
            )
    else:
        _cleanup(source)
    if os.path.lexists(dest):
        if filemod.apply_attributes(module, dest, p["mode"], p["owner"], p["group"]):
            result["changed"] = True
    result["checksum"] = source.checksum
    return _finish(result, dest)


def _diff(dest, source):
    before = diffs.read_for_diff(dest)
    if source.data is not None:
        after = filemod.diff_text(source.data)
    elif source.path is not None:
        after = diffs.read_for_diff(source.path)
    else:
        after = "(content not sent: binary or larger than %d bytes)\n" % filemod.MAX_DIFF_SIZE
    return diffs.text_diff(before, after, dest, dest)


def _cleanup(source):
    if source.consume and source.path:
        filemod.discard(source.path)


def _finish(result, dest):
    info = filemod.path_info(dest)
    for key in ("mode", "uid", "gid", "owner", "group", "size", "state"):
        if key in info:
            result[key] = info[key]
    if info.get("state") == "absent":
        result["state"] = "file"
    return result


def copy_directory(module, src, dest):
    """remote_src with a directory: 'dir/' copies its contents into dest, 'dir' copies dir."""
    if not src.endswith("/"):
        dest = os.path.join(dest, os.path.basename(os.path.normpath(src)))
    changed = False
    if not os.path.isdir(dest):
        _make_dirs(module, dest)
        changed = True
    for root, dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        target_dir = os.path.normpath(os.path.join(dest, rel))
        for name in sorted(dirs):
            path = os.path.join(target_dir, name)
            if not os.path.isdir(path):
                _make_dirs(module, path)
                changed = True
        for name in sorted(files):
            source = _FileSource(os.path.join(root, name))
            if module.check_mode and not os.path.isdir(target_dir):
                changed = True
                continue
            one = copy_one(module, source, os.path.join(target_dir, name))
            changed = changed or one["changed"]
    result = {"changed": changed, "dest": dest, "src": src}
    result.update({k: v for k, v in filemod.path_info(dest).items() if k != "path"})
    return result


class _FileSource(object):
    """A file inside a directory being copied on the target (never consumed)."""

    def __init__(self, path):
        self.path = path
        self.data = None
        self.consume = False
        self.checksum = filemod.sha1_of_file(path)
        self.basename = os.path.basename(path)
