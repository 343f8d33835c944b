"""`assert`: fail unless every expression in `that` holds (fail_msg/success_msg/quiet)."""

from __future__ import annotations

from typing import Any, Dict

from toolkit.actions.base import ActionContext
from toolkit.errors import ArgumentError


def run(ctx: ActionContext) -> Dict[str, Any]:
    task = ctx.task
    raw = task.args if task is not None else ctx.args
    that = raw.get("that")
    if that is None:
        raise ArgumentError("assert needs 'that' (a condition or a list of them)", ctx.location)
    conditions = that if isinstance(that, list) else [that]
    fail_msg = ctx.args.get("fail_msg", ctx.args.get("msg"))
    quiet = ctx.templar.is_true(ctx.args.get("quiet", False))
    for condition in conditions:
        if not ctx.templar.is_true(condition, location=getattr(condition, "location", None)):
            return {
                "changed": False,
                "failed": True,
                "assertion": str(condition),
                "evaluated_to": False,
                "msg": fail_msg if fail_msg is not None else "Assertion failed",
            }
    result: Dict[str, Any] = {
        "changed": False,
        "msg": ctx.args.get("success_msg", "All assertions passed"),
    }
    if not quiet:
        result["_ansible_verbose_always"] = True
    return result
