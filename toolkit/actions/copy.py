"""Controller half of `copy`: find the local source, ship it, let the target module place it.

Small text files and `content` go inline in the module's arguments (one round trip, and the
module computes the diff). Bigger or binary files are compared by checksum first (`stat`) and
streamed with `put_file` only when they differ; the module then moves the transfer temp into
place. A source directory is walked: `dir/` copies its contents, `dir` copies the directory.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
import uuid
from typing import Any, Dict, Iterable, Optional

from toolkit import modindex
from toolkit.errors import did_you_mean
from toolkit.filters import to_bool

INLINE_LIMIT = 100 * 1024  # bytes: at most this much text travels inside the module's args
CONTROLLER_ONLY = ("local_follow", "decrypt")


def run(ctx) -> Dict[str, Any]:
    args = dict(ctx.args)
    error = check_args(args, modindex.find_module("copy").spec, "copy")
    if error:
        return error
    if to_bool(args.get("remote_src", False)):
        return ctx.run_module("copy", _module_args(args))
    dest, src, content = args.get("dest"), args.get("src"), args.get("content")
    if not dest:
        return _fail("dest is required")
    if src is not None and content is not None:
        return _fail("parameters are mutually exclusive: content|src")
    if content is not None:
        if str(dest).endswith("/"):
            return _fail("can not use content with a dir as dest")
        return copy_content(ctx, _content_text(content), args)
    if src is None:
        return _fail("src (or content) is required")
    local = ctx.find_file("files", str(src))
    if os.path.isdir(local):
        return copy_tree(ctx, local, str(src).endswith("/"), args)
    return copy_file(ctx, local, args)


def check_args(args: Dict[str, Any], spec: Dict[str, Any], name: str) -> Optional[dict]:
    """A failed result naming the closest valid option for an unknown one, else None."""
    valid = set(spec)
    for option in spec.values():
        valid.update(option.get("aliases") or ())
    unknown = sorted(k for k in args if k not in valid and not k.startswith("_ansible_"))
    if not unknown:
        return None
    msg = f"Unsupported parameters for ({name}) module: {', '.join(unknown)}."
    hint = did_you_mean(unknown[0], sorted(valid))
    if hint:
        msg += " " + hint[0].upper() + hint[1:]
    return _fail(msg + f" Supported parameters include: {', '.join(sorted(valid))}.")


def _fail(msg: str, **extra: Any) -> Dict[str, Any]:
    return dict(extra, failed=True, changed=False, msg=msg)


def _content_text(content: Any) -> str:
    """Ansible writes dicts and lists given as content as JSON."""
    if isinstance(content, (dict, list)):
        return json.dumps(content)
    return str(content)


def _module_args(args: Dict[str, Any], **overrides: Any) -> Dict[str, Any]:
    result = {k: v for k, v in args.items() if k not in CONTROLLER_ONLY}
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def copy_content(ctx, text: str, args: Dict[str, Any], basename: Optional[str] = None) -> dict:
    """Put `text` at dest: inline when small, else as a streamed temp file."""
    data = text.encode("utf-8")
    if len(data) <= INLINE_LIMIT:
        margs = _module_args(args, content=text, src=None, _original_basename=basename)
        return ctx.run_module("copy", margs)
    return _transfer(ctx, args, data=data, basename=basename)


def copy_file(ctx, local: str, args: Dict[str, Any], dest: Optional[str] = None) -> dict:
    """Copy one local file to dest (or `args['dest']`)."""
    args = dict(args, dest=dest or args["dest"])
    basename = os.path.basename(local)
    if args.get("mode") == "preserve":
        args["mode"] = f"{stat.S_IMODE(os.stat(local).st_mode):04o}"
    if os.path.getsize(local) <= INLINE_LIMIT:
        with open(local, "rb") as fh:
            raw = fh.read()
        text = _as_text(raw)
        if text is not None:
            margs = _module_args(args, content=text, src=None, _original_basename=basename)
            return _with_src(ctx.run_module("copy", margs), local)
    return _with_src(_transfer(ctx, args, path=local, basename=basename), local)


def _with_src(result: Dict[str, Any], local: str) -> Dict[str, Any]:
    result.setdefault("src", local)
    return result


def _as_text(raw: bytes) -> Optional[str]:
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _sha1(data: Optional[bytes], path: Optional[str]) -> str:
    import hashlib

    digest = hashlib.sha1()
    if data is not None:
        digest.update(data)
    else:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _transfer(ctx, args, data: Optional[bytes] = None, path: Optional[str] = None,
              basename: Optional[str] = None) -> Dict[str, Any]:  # fmt: skip
    """Big or binary sources: compare checksums, stream only when needed, then the module."""
    conn = ctx.connection
    checksum = _sha1(data, path)
    dest = str(args["dest"])
    target = conn.stat(dest, checksum=False, follow=True)
    if dest.endswith("/") or target.get("isdir"):
        if basename is None:
            return _fail("can not use content with a dir as dest")
        dest = posixpath.join(dest, basename)
        target = conn.stat(dest, checksum=True, follow=True)
    elif target.get("exists"):
        target = conn.stat(dest, checksum=True, follow=True)
    margs = _module_args(args, dest=dest, src=None, content=None, checksum=checksum,
                         _original_basename=basename)  # fmt: skip
    force = to_bool(args.get("force", True))
    if target.get("exists") and (target.get("checksum") == checksum or not force):
        return ctx.run_module("copy", margs)
    if ctx.check:
        return ctx.run_module("copy", margs)
    tmp = _remote_temp(conn, dest)
    if data is not None:
        conn.put_content(data, tmp, mode="0600")
    else:
        conn.put_file(path, tmp, mode="0600")
    return ctx.run_module("copy", dict(margs, src=tmp))


def _remote_temp(conn, dest: str) -> str:
    """A transfer temp name beside dest (same filesystem, so the module can rename it) when
    dest's directory exists, else in /tmp."""
    parent = posixpath.dirname(dest.rstrip("/")) or "/"
    if not conn.stat(parent, checksum=False, follow=True).get("isdir"):
        parent = "/tmp"
    return posixpath.join(parent, f".tk-transfer-{uuid.uuid4().hex}")


def copy_tree(ctx, local_dir: str, contents_only: bool, args: Dict[str, Any]) -> dict:
    """Copy a local directory: every subdirectory via `file`, every file via `copy_file`."""
    dest = str(args["dest"])
    if not contents_only:
        dest = posixpath.join(dest, os.path.basename(os.path.normpath(local_dir)))
    changed, missing = False, set()
    for rel_dir, files in _walk(local_dir, to_bool(args.get("local_follow", True))):
        remote_dir = posixpath.normpath(posixpath.join(dest, rel_dir))
        made = ctx.run_module("file", _dir_args(args, remote_dir))
        if made.get("failed"):
            return made
        changed = changed or made.get("changed", False)
        if ctx.check and (made.get("changed") or posixpath.dirname(remote_dir) in missing):
            missing.add(remote_dir)
            changed = changed or bool(files)
            continue
        for name in files:
            remote = posixpath.join(remote_dir, name)
            result = copy_file(ctx, os.path.join(local_dir, rel_dir, name), args, dest=remote)
            if result.get("failed"):
                return result
            changed = changed or result.get("changed", False)
    return {"changed": changed, "dest": dest, "src": local_dir, "failed": False}


def _dir_args(args: Dict[str, Any], path: str) -> Dict[str, Any]:
    result = {"path": path, "state": "directory"}
    if args.get("directory_mode") is not None:
        result["mode"] = args["directory_mode"]
    for key in ("owner", "group"):
        if args.get(key) is not None:
            result[key] = args[key]
    return result


def _walk(top: str, follow: bool) -> Iterable:
    """(relative dir, sorted file names) for top and every directory below it."""
    for root, dirs, files in os.walk(top, followlinks=follow):
        dirs.sort()
        rel = os.path.relpath(root, top)
        names = [f for f in sorted(files) if follow or not os.path.islink(os.path.join(root, f))]
        yield ("" if rel == "." else rel), names
