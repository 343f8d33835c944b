"""`fetch`: copy a file from the host to the controller, under dest/HOST/PATH unless `flat`.

The remote file is stat'ed with its checksum first: an identical local copy is not fetched
again. The transfer itself streams in chunks into a temp file renamed into place.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict

from toolkit import modindex
from toolkit.actions.copy import check_args, to_bool
from toolkit.errors import AgentError


def run(ctx) -> Dict[str, Any]:
    args = dict(ctx.args)
    error = check_args(args, modindex.find_module("fetch").spec, "fetch")
    if error:
        return error
    src, dest = args.get("src"), args.get("dest")
    if not src or not dest:
        return _result(False, failed=True, msg="src and dest are required")
    src, dest = str(src), str(dest)
    remote = ctx.connection.stat(src, checksum=True, follow=True)
    problem = _remote_problem(remote, src)
    if problem:
        failed = to_bool(args.get("fail_on_missing", True)) or remote.get("isdir", False)
        return _result(False, file=src, msg=problem, failed=failed)
    local = local_path(ctx, src, dest, to_bool(args.get("flat", False)))
    remote_sum = remote.get("checksum")
    if _sha1(local) == remote_sum:
        return _result(False, file=src, dest=local, checksum=remote_sum, remote_checksum=remote_sum)
    if ctx.check:
        return _result(True, file=src, dest=local, remote_checksum=remote_sum)
    os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
    try:
        got = ctx.connection.fetch_file(src, local)
    except AgentError as exc:
        return _result(False, file=src, failed=True, msg=str(exc.message))
    checksum = got.get("sha1") or _sha1(local)
    if to_bool(args.get("validate_checksum", True)) and remote_sum and checksum != remote_sum:
        return _result(False, file=src, dest=local, failed=True, checksum=checksum,
                       remote_checksum=remote_sum, msg="checksum mismatch")  # fmt: skip
    return _result(True, file=src, dest=local, checksum=checksum, remote_checksum=remote_sum)


def _result(changed: bool, **fields: Any) -> Dict[str, Any]:
    fields.setdefault("failed", False)
    return dict(fields, changed=changed)


def _remote_problem(remote: Dict[str, Any], src: str) -> str:
    if not remote.get("exists"):
        return "the remote file does not exist, not transferring, ignored"
    if remote.get("isdir"):
        return "remote file is a directory, fetch cannot work on directories"
    if not remote.get("readable", True) or "checksum" not in remote:
        return f"file ({src}) is not readable, not transferring, ignored"
    return ""


def local_path(ctx, src: str, dest: str, flat: bool) -> str:
    """Where the fetched file lands on the controller (Ansible's rules)."""
    dest = os.path.expanduser(dest)
    if not os.path.isabs(dest):
        base = ctx.variables.get("playbook_dir") if ctx.variables else None
        dest = os.path.join(str(base or os.getcwd()), dest)
    if flat:
        if dest.endswith("/"):
            return os.path.join(dest, os.path.basename(src))
        return dest
    parts = [p for p in os.path.normpath(src).split("/") if p not in ("", ".", "..")]
    relative = "/".join(parts)
    return os.path.join(dest, ctx.host, relative)


def _sha1(path: str) -> Any:
    try:
        with open(path, "rb") as fh:
            digest = hashlib.sha1()
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
            return digest.hexdigest()
    except OSError:
        return None
