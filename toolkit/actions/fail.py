"""`fail`: fail the host with a message."""

from __future__ import annotations

from typing import Any, Dict

from toolkit.actions.base import ActionContext


def run(ctx: ActionContext) -> Dict[str, Any]:
    return {"changed": False, "failed": True,
            "msg": ctx.args.get("msg", "Failed as requested from task")}  # fmt: skip
