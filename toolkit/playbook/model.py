"""The playbook model: plain dataclasses the loader builds and the executor runs.

Contract (stable; extended only by adding fields with defaults):

- `Playbook.plays` is flat: `import_playbook` is already expanded.
- A play's work is `pre_tasks`, then the tasks of every `Role` in `roles` (already flattened
  in run order: dependencies first, duplicates removed as Ansible does), then `tasks`, then
  `post_tasks`; handlers are notified from any of them. `Play.task_sections()` gives that order.
- `Play.when` holds conditions of an enclosing `import_playbook` (already copied onto every
  task; Ansible also skips fact gathering when they are false). A play never has its own.
- Task lists hold `Block` and `Task` items. `import_tasks` and `import_role` are already
  expanded; `include_tasks` and `include_role` stay as a `Task` whose `action` is
  `include_tasks` (args `file`, optional `apply`) or `include_role` (args `name`, optional
  `tasks_from`, `vars_from`, `defaults_from`, `handlers_from`, `apply`, `public`,
  `allow_duplicates`); the executor expands them at run time with
  `toolkit.playbook.loader.load_tasks_file` / `load_role`.
- Inheritance is resolved at load time: every `Task` already carries the *effective* keywords
  of its enclosing blocks, role and play. `task.when` is the full list of conditions to AND
  (outer first), `task.tags` the union of all tags, and `become*`, `environment`,
  `ignore_errors`, `check_mode`, `diff`, `no_log`, `delegate_to`, `run_once`,
  `any_errors_fatal`, `connection`, `remote_user`, `timeout`, `module_defaults` come from the
  nearest level that set them (`None` = never set anywhere). `task.vars` holds block + task
  vars merged (task wins); play vars and role vars/defaults are NOT copied into it (they are
  different precedence levels: read `play.vars` and `task.role.vars`/`.defaults`).
  A `Block`'s own keyword fields are informational: do not evaluate `block.when` again.
- `Task.action` is the canonical short name (`ansible.builtin.copy` -> `copy`); `Task.args`
  is a dict with free-form text already split (command/shell/raw/script keep `_raw_params`).
  `args: "{{ var }}"` (a whole templated dict) is kept as `args["_variable_params"]`.
- Loops: `loop` holds the list or template string. `with_X: value` becomes `loop=value`,
  `loop_with="X"` (the lookup to call with the terms, e.g. "items", "dict", "fileglob").
- Objects compare and hash by identity (`eq=False`): handlers and tasks can key dicts.
- Values are what YAML gave (strings may be `toolkit.yamlfile.PosStr`); templates are not
  rendered here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Union

from toolkit.errors import Location

# Keywords a child inherits from its parents when it does not set them itself.
INHERITED_KEYWORDS = (
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "ignore_errors",
    "ignore_unreachable",
    "any_errors_fatal",
    "check_mode",
    "diff",
    "no_log",
    "delegate_to",
    "delegate_facts",
    "run_once",
    "connection",
    "remote_user",
    "port",
    "timeout",
    "throttle",
    "module_defaults",
)


@dataclass(eq=False)
class Keywords:
    """Keywords shared by tasks, blocks (and, for most of them, plays)."""

    name: Optional[str] = None
    when: List[Any] = field(default_factory=list)  # conditions (str/bool), ANDed, outer first
    tags: List[str] = field(default_factory=list)
    vars: Dict[str, Any] = field(default_factory=dict)
    environment: Optional[Any] = None  # dict, or a template string naming one
    become: Optional[bool] = None
    become_user: Optional[str] = None
    become_method: Optional[str] = None
    become_flags: Optional[str] = None
    become_exe: Optional[str] = None
    ignore_errors: Optional[Any] = None  # bool or template string
    ignore_unreachable: Optional[bool] = None
    any_errors_fatal: Optional[bool] = None
    check_mode: Optional[Any] = None
    diff: Optional[Any] = None
    no_log: Optional[Any] = None
    delegate_to: Optional[str] = None
    delegate_facts: Optional[bool] = None
    run_once: Optional[bool] = None
    connection: Optional[str] = None
    remote_user: Optional[str] = None
    port: Optional[Any] = None
    timeout: Optional[Any] = None
    throttle: Optional[Any] = None
    module_defaults: Optional[Dict[str, Any]] = None
    notify: List[str] = field(default_factory=list)
    location: Optional[Location] = None


@dataclass(eq=False)
class LoopControl:
    """`loop_control:` of a task."""

    loop_var: str = "item"
    index_var: Optional[str] = None
    label: Optional[Any] = None
    pause: Optional[Any] = None  # seconds (number or template)
    extended: Optional[Any] = None
    extended_allitems: Optional[Any] = None


@dataclass(eq=False)
class Task(Keywords):
    """One task: an action with arguments plus task keywords."""

    action: str = ""
    args: Dict[str, Any] = field(default_factory=dict)
    loop: Optional[Any] = None
    loop_with: Optional[str] = None  # lookup name from `with_<name>`; None for `loop:`
    loop_control: LoopControl = field(default_factory=LoopControl)
    register: Optional[str] = None
    changed_when: List[Any] = field(default_factory=list)  # ANDed like `when`
    failed_when: List[Any] = field(default_factory=list)
    until: List[Any] = field(default_factory=list)
    retries: Optional[Any] = None
    delay: Optional[Any] = None
    async_: Optional[Any] = None  # `async:` seconds
    poll: Optional[Any] = None
    role: Optional[Role] = field(default=None, repr=False)  # the role this task came from
    basedir: str = "."  # directory of the file the task was written in (relative lookups)
    parents: List[Block] = field(default_factory=list, repr=False)  # enclosing blocks, outer first
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)  # the mapping as written
    playbook_dir: str = "."  # directory of the playbook file (roles/ beside it)
    # Effective keywords of everything enclosing this task (blocks, role, play); used to load
    # what a dynamic include brings in under the same inheritance.
    scope: Optional[Keywords] = field(default=None, repr=False)

    @property
    def display_name(self) -> str:
        """What `TASK [...]` shows: the name, else the action; prefixed by `role : `."""
        base = self.name or self.action
        return f"{self.role.name} : {base}" if self.role is not None else base


@dataclass(eq=False)
class Handler(Task):
    """A task in `handlers:`; runs when notified by its name or any `listen` topic."""

    listen: List[str] = field(default_factory=list)

    def topics(self) -> List[str]:
        """Every name this handler answers to (name, role-qualified name, listen topics)."""
        names = list(self.listen)
        if self.name:
            names.append(self.name)
            if self.role is not None:
                names.append(f"{self.role.name} : {self.name}")
        return names


@dataclass(eq=False)
class Block(Keywords):
    """`block:` with optional `rescue:` and `always:`."""

    block: List[TaskItem] = field(default_factory=list)
    rescue: List[TaskItem] = field(default_factory=list)
    always: List[TaskItem] = field(default_factory=list)
    role: Optional[Role] = field(default=None, repr=False)
    basedir: str = "."


TaskItem = Union[Task, Block]


@dataclass(eq=False)
class Role:
    """One application of a role in a play (its files loaded, its params applied)."""

    name: str
    path: str  # the role's directory
    defaults: Dict[str, Any] = field(default_factory=dict)
    vars: Dict[str, Any] = field(default_factory=dict)
    params: Dict[str, Any] = field(default_factory=dict)  # `- role: x` extra keys and `vars:`
    tasks: List[TaskItem] = field(default_factory=list)
    handlers: List[Handler] = field(default_factory=list)
    dependencies: List[Role] = field(default_factory=list)  # meta/main.yml, loaded
    allow_duplicates: bool = False
    tags: List[str] = field(default_factory=list)
    when: List[Any] = field(default_factory=list)
    public: bool = True
    location: Optional[Location] = None  # where the role was referenced
    # Keywords written on the role entry (become, tags, when, ...); `tags`/`when` mirror them.
    keywords: Keywords = field(default_factory=Keywords, repr=False)
    tasks_from: str = "main"

    @property
    def files_dir(self) -> str:
        return f"{self.path}/files"

    @property
    def templates_dir(self) -> str:
        return f"{self.path}/templates"

    @property
    def tasks_dir(self) -> str:
        return f"{self.path}/tasks"


@dataclass(eq=False)
class Play(Keywords):
    """One play of a playbook."""

    hosts: str = ""  # the host pattern; a YAML list is joined with ','

    vars_files: List[Any] = field(default_factory=list)  # str, or list of alternatives
    vars_prompt: List[Dict[str, Any]] = field(default_factory=list)
    gather_facts: Optional[Any] = None  # None = default (yes)
    gather_subset: Optional[Any] = None
    gather_timeout: Optional[Any] = None
    fact_path: Optional[str] = None
    serial: Optional[Any] = None  # int, "30%", or a list of them
    strategy: Optional[str] = None
    max_fail_percentage: Optional[Any] = None
    order: Optional[str] = None
    force_handlers: Optional[bool] = None
    pre_tasks: List[TaskItem] = field(default_factory=list)
    roles: List[Role] = field(default_factory=list)  # flattened: dependencies first, deduped
    tasks: List[TaskItem] = field(default_factory=list)
    post_tasks: List[TaskItem] = field(default_factory=list)
    handlers: List[Handler] = field(default_factory=list)  # the play's own handlers
    collections: List[str] = field(default_factory=list)  # accepted and ignored
    basedir: str = "."
    playbook_vars: Dict[str, Any] = field(default_factory=dict)  # `vars:` of import_playbook
    # Roles brought in by `import_role` inside task lists: their handlers belong to the play.
    imported_roles: List[Role] = field(default_factory=list)

    def task_sections(self) -> List[tuple]:
        """(section, items) in run order: pre_tasks, roles, tasks, post_tasks.

        Ansible flushes handlers after pre_tasks, after roles and tasks together (no flush
        between them), and after post_tasks.
        """
        role_items: List[TaskItem] = [item for role in self.roles for item in role.tasks]
        return [
            ("pre_tasks", self.pre_tasks),
            ("roles", role_items),
            ("tasks", self.tasks),
            ("post_tasks", self.post_tasks),
        ]

    def all_handlers(self) -> List[Handler]:
        """Role handlers (in role order) then the play's handlers."""
        roles = list(self.roles) + [r for r in self.imported_roles if r not in self.roles]
        return [h for role in roles for h in role.handlers] + list(self.handlers)


@dataclass(eq=False)
class Playbook:
    """A loaded playbook file with every `import_playbook` expanded."""

    path: str
    plays: List[Play] = field(default_factory=list)

    @property
    def basedir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))


def iter_tasks(items: List[TaskItem]) -> Iterator[Task]:
    """Every task in a task list, depth first through block, rescue and always."""
    for item in items:
        if isinstance(item, Block):
            yield from iter_tasks(item.block)
            yield from iter_tasks(item.rescue)
            yield from iter_tasks(item.always)
        else:
            yield item


def flatten(items: List[TaskItem]) -> List[Task]:
    """`iter_tasks` as a list."""
    return list(iter_tasks(items))


def play_tasks(play: Play) -> List[Task]:
    """Every task of a play in run order (handlers excluded)."""
    return [task for _, items in play.task_sections() for task in iter_tasks(items)]
