"""What a controller-side action gets to work with: the `ActionContext` contract.

An action is `toolkit/actions/NAME.py` with `run(ctx: ActionContext) -> dict` returning a result
in the module result shape (`changed`, `failed`, `msg`, ...). Actions exist for tasks that run on
the controller (debug, set_fact, assert, fail, pause, meta) or need local files before the
target-side module runs (copy, template, fetch). Any other task uses the generic action, which
calls `ctx.run_module(task_action, ctx.args)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional

from toolkit.errors import Location


@dataclass
class ActionContext:
    """Everything one task on one host may use. Built by the executor per (task, host)."""

    action: str  # resolved module/action name, e.g. "copy"
    args: Dict[str, Any]  # task arguments, already rendered with the host's variables
    host: str  # inventory_hostname
    variables: Mapping[str, Any]  # the host's variables for this task (lazy mapping)
    templar: Any  # toolkit.templating.Templar bound to `variables`
    connection: Any  # toolkit.transport.base.Connection (opened lazily by the executor)
    check: bool = False
    diff: bool = False
    location: Optional[Location] = None  # where the task was written
    # Find a file the way Ansible does: role files/ or templates/ dir, then the task's dir,
    # then the playbook dir. kind is "files" or "templates". Raises TkError when not found.
    find_file: Callable[[str, str], str] = field(default=lambda kind, name: name)
    env: Dict[str, str] = field(default_factory=dict)  # task `environment:`
    timeout: Optional[float] = None
    verbosity: int = 0  # -v count (debug's `verbosity:` compares against it)
    task: Any = None  # the toolkit.playbook.model.Task being run
    play: Any = None  # the executor's PlayContext for the play
    warn: Callable[[str], None] = field(default=lambda text: None)  # a [WARNING] line

    def run_module(self, name: str, args: Dict[str, Any]) -> Dict[str, Any]:
        """Run a target module on this host with this task's check/diff/env settings."""
        hints = getattr(self.play, "preload_hints", None) or {}
        return self.connection.run_module(
            name, args, check=self.check, diff=self.diff, env=self.env or None,
            timeout=self.timeout, preload=hints.get(id(self.task), ()),
        )  # fmt: skip
