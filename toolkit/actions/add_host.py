"""`add_host`: add a host (and groups, variables) to the in-memory inventory of this run."""

from __future__ import annotations

from typing import Any, Dict

from toolkit.actions.base import ActionContext
from toolkit.errors import ArgumentError

_NAME_KEYS = ("name", "hostname", "host")
_GROUP_KEYS = ("groups", "group", "groupname")


def run(ctx: ActionContext) -> Dict[str, Any]:
    args = dict(ctx.args)
    name = next((args.pop(k) for k in _NAME_KEYS if k in args), None)
    if not name:
        raise ArgumentError("add_host needs a name", ctx.location)
    groups: Any = []
    for key in _GROUP_KEYS:
        if key in args:
            groups = args.pop(key)
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    name = str(name)
    if ":" in name and name.count(":") == 1:
        name, port = name.split(":")
        args["ansible_port"] = int(port)
    return {
        "changed": False,
        "add_host": {"host_name": name, "groups": list(groups or []), "host_vars": args},
    }
