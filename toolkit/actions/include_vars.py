"""`include_vars`: load variables from a YAML/JSON file (or every file of a `dir`)."""

from __future__ import annotations

import os
from typing import Any, Dict, List

from toolkit.actions.base import ActionContext
from toolkit.errors import ArgumentError, TkError
from toolkit.yamlfile import load_file

_EXTENSIONS = ("yaml", "yml", "json")


def _load(path: str, ctx: ActionContext) -> Dict[str, Any]:
    data = load_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TkError(f"include_vars: {path} must hold a mapping", ctx.location)
    return data


def _dir_files(ctx: ActionContext, directory: str) -> List[str]:
    extensions = ctx.args.get("extensions") or list(_EXTENSIONS)
    ignore = set(ctx.args.get("ignore_files") or [])
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            if name in ignore or name.rsplit(".", 1)[-1] not in extensions:
                continue
            found.append(os.path.join(root, name))
        if not ctx.args.get("depth", 0) == 0:
            continue
    return found


def run(ctx: ActionContext) -> Dict[str, Any]:
    args = ctx.args
    name = args.get("file") or args.get("_raw_params")
    directory = args.get("dir")
    if not name and not directory:
        raise ArgumentError("include_vars needs a file (or dir)", ctx.location)
    if directory:
        paths = _dir_files(ctx, ctx.find_file("vars", str(directory)))
    else:
        paths = [ctx.find_file("vars", str(name))]
    data: Dict[str, Any] = {}
    for path in paths:
        data.update(_load(path, ctx))
    facts = {str(args["name"]): data} if args.get("name") else data
    return {"changed": False, "ansible_facts": facts, "ansible_included_var_files": paths}
