"""`async:` + `poll:` on a task.

With `poll` > 0 the module runs with a deadline of `async` seconds (the agent kills it and its
process group when the deadline passes) and the result looks like Ansible's: `ansible_job_id`,
`started`, `finished`, and "Timeout exceeded" when it ran out of time; the human output gets
Ansible's `ASYNC OK on HOST: jid=...` / `ASYNC FAILED on HOST: jid=...` line. tk does not poll
a background job: the task simply waits for the module, which is what a user of `poll` > 0
observes too.

`poll: 0` (fire and forget, checked later with `async_status`) needs a detached job on the
target and is not supported yet: such a task fails with a clear message instead of running
synchronously. Controller-side actions (copy, template, debug...) do not support async, as in
Ansible.
"""

from __future__ import annotations

import os
import random
from typing import Any, Callable, Dict

from toolkit.actions.base import ActionContext
from toolkit.errors import TkError

DEFAULT_POLL = 15  # Ansible's DEFAULT_POLL_INTERVAL


def _number(ctx: ActionContext, value: Any, keyword: str) -> int:
    rendered = ctx.templar.render(value)
    try:
        return int(rendered)
    except (TypeError, ValueError):
        raise TkError(f"'{keyword}' must be a whole number of seconds, got {rendered!r}",
                      ctx.location) from None  # fmt: skip


def run_async(
    action: Any,
    ctx: ActionContext,
    execute: Callable[[Any, ActionContext], Dict[str, Any]],
    announce: Callable[[str, str, bool], None],
) -> Dict[str, Any]:
    """Run `action` for a task with `async:` (see the module docstring)."""
    task = ctx.task
    seconds = _number(ctx, task.async_, "async")
    poll = _number(ctx, task.poll, "poll") if task.poll is not None else DEFAULT_POLL
    if seconds <= 0:
        return execute(action, ctx)  # async: 0 means synchronous in Ansible too
    if action.__name__ != "toolkit.actions.module":
        return {"changed": False, "failed": True,
                "msg": f"This action ({ctx.action}) does not support async."}  # fmt: skip
    if poll <= 0:
        return {"changed": False, "failed": True,
                "msg": "async with poll: 0 (fire and forget, async_status) is not supported "
                "yet; use poll > 0 to run with a deadline"}  # fmt: skip
    ctx.timeout = min(ctx.timeout, seconds) if ctx.timeout else float(seconds)
    jid = f"j{random.randrange(10**11, 10**12)}.{os.getpid()}"
    result = execute(action, ctx)
    if result.get("timeout") is True and result.get("failed"):
        result = {"changed": False, "failed": True, "msg": "Timeout exceeded",
                  "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": []}  # fmt: skip
    result.update(ansible_job_id=jid, started=True, finished=True)
    announce(ctx.host, jid, not result.get("failed"))
    return result
