"""Manage files, directories, symlinks, hard links and their attributes (mode, owner, times)."""

import os
import shutil
import time

from modules._utils import filemod

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True, "aliases": ["dest", "name"]},
    "state": {"type": "str", "choices": ["absent", "directory", "file", "hard", "link", "touch"]},
    "src": {"type": "path"},
    "mode": {"type": "raw"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "recurse": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": False},
    "follow": {"type": "bool", "default": True},
    "modification_time": {"type": "str"},
    "modification_time_format": {"type": "str", "default": "%Y%m%d%H%M.%S"},
    "access_time": {"type": "str"},
    "access_time_format": {"type": "str", "default": "%Y%m%d%H%M.%S"},
    "unsafe_writes": {"type": "bool", "default": False},
    "attributes": {"type": "str", "aliases": ["attr"]},
    "seuser": {"type": "str"},
    "serole": {"type": "str"},
    "setype": {"type": "str"},
    "selevel": {"type": "str"},
    "_original_basename": {"type": "str"},
    "_diff_peek": {"type": "bool"},
}
REQUIRED_IF = [["state", "link", ["src"]], ["state", "hard", ["src"]]]
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True  # pure-Python file editing: no fork needed
FREE_FORM = None


def main(module):
    p = module.params
    path = p["path"]
    filemod.check_mode_value(module, p["mode"])
    prev = filemod.path_state(path)
    state = p["state"] or _default_state(prev, p["recurse"])
    if p["recurse"] and state != "directory":
        module.fail("recurse option requires state to be 'directory'")
    if p["src"] is not None and state not in ("link", "hard"):
        module.fail("src option requires state to be 'link' or 'hard'")
    handler = {
        "absent": ensure_absent,
        "file": ensure_file,
        "directory": ensure_directory,
        "link": ensure_link,
        "hard": ensure_hardlink,
        "touch": ensure_touch,
    }[state]
    result = handler(module, path, prev)
    if module.diff_mode and prev != result.get("state", state):
        result["diff"] = _diff(path, prev, result.get("state", state))
    return result


def _default_state(prev, recurse):
    if prev != "absent":
        return prev
    return "directory" if recurse else "file"


def _diff(path, before, after):
    return {
        "before_header": path,
        "after_header": path,
        "before": "path: %s\nstate: %s\n" % (path, before),
        "after": "path: %s\nstate: %s\n" % (path, after),
    }


def _attrs(module, path, follow=True):
    p = module.params
    return filemod.apply_attributes(module, path, p["mode"], p["owner"], p["group"], follow)


def _result(path, changed, follow=True, **extra):
    result = filemod.path_info(path, follow)
    result["changed"] = changed
    result.update(extra)
    return result


def ensure_absent(module, path, prev):
    if prev == "absent":
        return {"path": path, "state": "absent", "changed": False}
    if not module.check_mode:
        try:
            if prev == "directory":
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError as exc:
            module.fail("unlinking failed: %s" % exc, path=path)
    return {"path": path, "state": "absent", "changed": True}


def ensure_file(module, path, prev):
    follow = module.params["follow"]
    if prev == "absent":
        module.fail(
            "file (%s) is absent, cannot continue" % path,
            path=path,
            hint="use state=touch to create an empty file",
        )
    if prev == "link" and follow:
        target = os.path.realpath(path)
        if not os.path.isfile(target):
            module.fail("file (%s) is a link to a missing or non-file target" % path, path=path)
    elif prev not in ("file", "hard"):
        module.fail("file (%s) is %s, cannot continue" % (path, prev), path=path)
    changed = _attrs(module, path, follow)
    changed = _times(module, path, follow) or changed
    return _result(path, changed, follow)


def ensure_directory(module, path, prev):
    follow = module.params["follow"]
    if prev == "link" and follow and os.path.isdir(path):
        prev = "directory"
    if prev not in ("absent", "directory"):
        module.fail("%s already exists as a %s" % (path, prev), path=path)
    changed = False
    if prev == "absent":
        changed = True
        if module.check_mode:
            return {"path": path, "state": "directory", "changed": True}
        _make_dirs(module, path)
    changed = _attrs(module, path, follow) or changed
    changed = _times(module, path, follow) or changed
    if module.params["recurse"]:
        changed = _recurse(module, path) or changed
    return _result(path, changed, follow)


def _make_dirs(module, path):
    """mkdir -p, giving each directory it creates the requested attributes."""
    todo = []
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        todo.append(current)
        current = os.path.dirname(current)
    for directory in reversed(todo):
        try:
            os.mkdir(directory)
        except OSError as exc:
            module.fail("There was an issue creating %s: %s" % (directory, exc.strerror), path=path)
        _attrs(module, directory)


def _recurse(module, top):
    changed = False
    follow = module.params["follow"]
    for root, dirs, files in os.walk(top, followlinks=follow):
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path) and not follow:
                p = module.params
                changed = (
                    filemod.apply_attributes(module, path, None, p["owner"], p["group"], False)
                    or changed
                )
                continue
            if os.path.lexists(path) and os.path.exists(path):
                changed = _attrs(module, path) or changed
    return changed


def ensure_link(module, path, prev):
    p = module.params
    src = p["src"]
    absolute_src = src if os.path.isabs(src) else os.path.join(os.path.dirname(path), src)
    if not os.path.lexists(absolute_src) and not p["force"]:
        module.fail(
            'src file does not exist, use "force=yes" if you really want to create the link: %s'
            % absolute_src,
            path=path,
            src=src,
        )
    changed = False
    if prev == "link":
        changed = os.readlink(path) != src
    elif prev in ("file", "hard"):
        if not p["force"]:
            module.fail("refusing to convert from %s to symlink for %s" % (prev, path), path=path)
        changed = True
    elif prev == "directory":
        if os.listdir(path) or not p["force"]:
            module.fail("refusing to convert from directory to symlink for %s" % path, path=path)
        changed = True
    else:
        changed = True
    if changed and not module.check_mode:
        _replace_with(module, path, prev, lambda tmp: os.symlink(src, tmp))
    if module.check_mode and changed:
        return {"path": path, "dest": path, "src": src, "state": "link", "changed": True}
    changed = filemod.apply_attributes(module, path, None, p["owner"], p["group"], False) or changed
    if p["follow"] and p["mode"] is not None and os.path.exists(path):
        changed = _attrs(module, path, True) or changed
    return _result(path, changed, False, dest=path, src=src)


def ensure_hardlink(module, path, prev):
    p = module.params
    src = p["src"]
    if not os.path.exists(src):
        module.fail("src does not exist: %s" % src, path=path, src=src)
    changed = False
    if prev in ("file", "hard"):
        same = os.stat(path).st_ino == os.stat(src).st_ino
        same = same and os.stat(path).st_dev == os.stat(src).st_dev
        if not same:
            if not p["force"]:
                module.fail("Cannot link, different file exists at destination", path=path)
            changed = True
    elif prev == "absent":
        changed = True
    else:
        if not p["force"] or prev == "directory":
            module.fail("Cannot link: %s exists as a %s" % (path, prev), path=path)
        changed = True
    if changed and not module.check_mode:
        _replace_with(module, path, prev, lambda tmp: os.link(src, tmp))
    if module.check_mode and changed:
        return {"path": path, "dest": path, "src": src, "state": "hard", "changed": True}
    changed = _attrs(module, path) or changed
    return _result(path, changed, True, dest=path, src=src, state="hard")


def _replace_with(module, path, prev, make):
    """Create the new link under a temp name beside path, then rename over path (atomic)."""
    tmp = os.path.join(
        os.path.dirname(path) or ".", ".%s.%d.tktmp" % (os.path.basename(path), os.getpid())
    )
    try:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        make(tmp)
        if prev == "directory":
            os.rmdir(path)
        os.rename(tmp, path)
    except OSError as exc:
        filemod.discard(tmp)
        module.fail("Error while linking: %s" % exc, path=path)


def ensure_touch(module, path, prev):
    p = module.params
    changed = False
    if prev == "absent":
        changed = True
        if module.check_mode:
            return {"path": path, "state": "file", "changed": True}
        try:
            open(path, "ab").close()
        except OSError as exc:
            module.fail("Error, could not touch target: %s" % exc.strerror, path=path)
    changed = _attrs(module, path, p["follow"]) or changed
    changed = _times(module, path, p["follow"], default="now") or changed
    return _result(path, changed, p["follow"])


def _times(module, path, follow, default=None):
    """Apply modification_time/access_time ('now', 'preserve' or a formatted time)."""
    p = module.params
    mtime_arg = p["modification_time"] or default
    atime_arg = p["access_time"] or default
    if mtime_arg in (None, "preserve") and atime_arg in (None, "preserve"):
        return False
    st = os.stat(path) if follow else os.lstat(path)
    now = time.time()
    mtime = _time_value(module, mtime_arg, p["modification_time_format"], st.st_mtime, now)
    atime = _time_value(module, atime_arg, p["access_time_format"], st.st_atime, now)
    if mtime == st.st_mtime and atime == st.st_atime:
        return False
    if not module.check_mode:
        try:
            os.utime(path, (atime, mtime), follow_symlinks=follow)
        except (OSError, NotImplementedError) as exc:
            module.fail("Error while updating times of %s: %s" % (path, exc), path=path)
    return True


def _time_value(module, value, fmt, current, now):
    if value in (None, "preserve"):
        return current
    if value == "now":
        return now
    try:
        return time.mktime(time.strptime(value, fmt))
    except ValueError as exc:
        module.fail(
            "Error while obtaining timestamp for time %s using format %s: %s" % (value, fmt, exc)
        )
