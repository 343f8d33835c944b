"""`async:` + `poll:` on a task.

With `poll` > 0 the module runs with a deadline of `async` seconds (the agent kills it and its
process group when the deadline passes) and the result looks like Ansible's: `ansible_job_id`,
`started`, `finished`, and "Timeout exceeded" when it ran out of time; the human output gets
Ansible's `ASYNC OK on HOST: jid=...` / `ASYNC FAILED on HOST: jid=...` line. tk does not poll
a background job: the task simply waits for the module, which is what a user of `poll` > 0
observes too.

`poll: 0` (fire and forget) starts a detached job on the target through the agent's
`run_async` op (toolkit/agent/asyncjob.py) and returns at once with `ansible_job_id`,
`started: true`, `finished: false` and `results_file`; the job writes its result to
`~/.ansible_async/JID` (or `ansible_async_dir`), which the `async_status` module reads, as
with Ansible. Controller-side actions (copy, template, debug...) do not support async, as in
Ansible, unless they define `async_args(ctx) -> dict`: the module arguments of the job (the
container modules' action, which adds the shipped engine's name; with `poll` > 0 the action
itself runs, under the deadline).
"""

from __future__ import annotations

import os
import random
from typing import Any, Callable, Dict

from toolkit import modindex
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
    async_args = getattr(action, "async_args", None)
    if action.__name__ != "toolkit.actions.module" and async_args is None:
        return {"changed": False, "failed": True,
                "msg": f"This action ({ctx.action}) does not support async."}  # fmt: skip
    jid = f"j{random.randrange(10**11, 10**12)}.{os.getpid()}"
    if poll <= 0:
        return start_detached(ctx, jid, seconds, async_args(ctx) if async_args else ctx.args)
    ctx.timeout = min(ctx.timeout, seconds) if ctx.timeout else float(seconds)
    result = execute(action, ctx)
    if result.get("timeout") is True and result.get("failed"):
        result = {"changed": False, "failed": True, "msg": "Timeout exceeded",
                  "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": []}  # fmt: skip
    result.update(ansible_job_id=jid, started=True, finished=True)
    announce(ctx.host, jid, not result.get("failed"))
    return result


def start_detached(
    ctx: ActionContext, jid: str, seconds: int, args: Dict[str, Any]
) -> Dict[str, Any]:
    """poll: 0: launch the module with `args` as a job on the host that outlives this task."""
    conn = ctx.connection
    info = modindex.find_module(ctx.action, conn.module_dirs)
    conn._ensure_utils()  # the job runs the module with the agent's modules._utils
    async_dir = ctx.variables.get("ansible_async_dir") or "~/.ansible_async"
    fields = {"check": ctx.check, "diff": ctx.diff, "env": ctx.env or None}
    result = conn.call(
        "run_async", timeout=min(ctx.timeout, seconds) if ctx.timeout else seconds, jid=jid,
        name=info.name, digest=info.digest, source=info.source, args=dict(args),
        async_dir=str(async_dir), **{k: v for k, v in fields.items() if v},
    )  # fmt: skip
    result.setdefault("failed", False)
    return result
