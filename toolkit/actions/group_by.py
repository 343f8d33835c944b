"""`group_by`: put the host in a group named by `key` (created if needed)."""

from __future__ import annotations

from typing import Any, Dict

from toolkit.actions.base import ActionContext
from toolkit.errors import ArgumentError


def run(ctx: ActionContext) -> Dict[str, Any]:
    key = ctx.args.get("key") or ctx.args.get("_raw_params")
    if not key:
        raise ArgumentError("group_by needs a key", ctx.location)
    parents = ctx.args.get("parents") or ["all"]
    if isinstance(parents, str):
        parents = [parents]
    return {
        "changed": False,
        "add_group": str(key).replace(" ", "-"),
        "parent_groups": [str(p) for p in parents],
    }
