"""`meta`: executor directives (flush_handlers, end_play, end_host, ...).

The strategy handles meta tasks itself (they act on the play, not on a host); this action
only exists so a meta task reached another way reports ok instead of running a module.
"""

from __future__ import annotations

from typing import Any, Dict

from toolkit.actions.base import ActionContext


def run(ctx: ActionContext) -> Dict[str, Any]:
    return {"changed": False, "msg": f"meta {ctx.args.get('_raw_params', '')}".strip()}
