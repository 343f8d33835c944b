"""The generic action: run the task's target-side module on the host through its agent."""

from __future__ import annotations

from typing import Any, Dict

from toolkit.actions.base import ActionContext


def run(ctx: ActionContext) -> Dict[str, Any]:
    return ctx.run_module(ctx.action, ctx.args)
