"""Parse task lists: tasks, handlers, blocks, and the static `import_tasks` / `import_role`.

Output is the model's own values per object; inheritance from blocks, roles and plays is applied
afterwards by `toolkit.playbook.inherit`.
"""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any, Dict, List, Optional

from toolkit.errors import Location, ParseError, did_you_mean
from toolkit.playbook import fields as f
from toolkit.playbook.context import LoadContext
from toolkit.playbook.keywords import BLOCK, HANDLER, LOOP_CONTROL, TASK
from toolkit.playbook.model import (
    Block,
    Handler,
    Keywords,
    LoopControl,
    Task,
    TaskItem,
    iter_tasks,
)
from toolkit.playbook.taskargs import detect_action, unknown_key
from toolkit.yamlfile import load_file, location_of

_BOOL_KEYWORDS = (
    "become",
    "ignore_errors",
    "ignore_unreachable",
    "any_errors_fatal",
    "check_mode",
    "diff",
    "no_log",
    "delegate_facts",
    "run_once",
)
_STR_KEYWORDS = (
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "delegate_to",
    "connection",
    "remote_user",
)
_SCALAR_KEYWORDS = ("port", "timeout", "throttle")
KEYWORD_FIELDS = tuple(fl.name for fl in fields(Keywords))


def read_keywords(obj: Keywords, ds: Dict[str, Any]) -> None:
    """Fill the shared keyword fields of `obj` from mapping `ds` (validated)."""
    obj.location = location_of(ds)
    obj.name = f.as_str(ds, "name")
    obj.when = f.as_conditions(ds, "when")
    obj.tags = f.as_str_list(ds, "tags", comma=True)
    obj.vars = f.as_vars(ds, "vars")
    obj.environment = f.as_environment(ds, "environment")
    obj.notify = f.as_str_list(ds, "notify")
    for key in _BOOL_KEYWORDS:
        setattr(obj, key, f.as_bool(ds, key))
    for key in _STR_KEYWORDS:
        setattr(obj, key, f.as_str(ds, key))
    for key in _SCALAR_KEYWORDS:
        setattr(obj, key, f.as_scalar(ds, key))
    defaults = ds.get("module_defaults")
    if isinstance(defaults, list):
        merged: Dict[str, Any] = {}
        for part in defaults:
            if not isinstance(part, dict):
                raise f.fail(ds, "module_defaults", "a mapping or a list of mappings")
            merged.update(part)
        obj.module_defaults = merged
    else:
        obj.module_defaults = f.as_mapping(ds, "module_defaults")


def copy_keywords(src: Keywords, dst: Keywords) -> None:
    for name in KEYWORD_FIELDS:
        value = getattr(src, name)
        setattr(dst, name, list(value) if isinstance(value, list) else value)


def parse_items(data: Any, ctx: LoadContext, what: str, loc: Optional[Location]) -> List[TaskItem]:
    """A list of tasks/blocks (`what` names it in errors, e.g. "'tasks'")."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ParseError(
            f"{what} must be a list of tasks, not {f.type_name(data)}", location_of(data) or loc
        )
    items: List[TaskItem] = []
    for ds in data:
        items.extend(parse_item(ds, ctx, location_of(data) or loc))
    return items


def flatten_handlers(items: List[TaskItem]) -> List[Handler]:
    """Handlers may be written in blocks; the play needs a flat list (block keywords applied)."""
    from toolkit.playbook.inherit import resolve_items

    flat: List[Handler] = []
    for item in items:
        if isinstance(item, Block):
            resolve_items([item], Keywords())
        flat.extend(t for t in iter_tasks([item]) if isinstance(t, Handler))
    return flat


def parse_item(ds: Any, ctx: LoadContext, loc: Optional[Location]) -> List[TaskItem]:
    if not isinstance(ds, dict):
        shown = f" ({ds!r})" if isinstance(ds, (str, int, float)) else ""
        raise ParseError(
            f"a task must be a mapping (key: value), not {f.type_name(ds)}{shown}",
            location_of(ds) or loc,
        )
    if any(key in ds for key in ("block", "rescue", "always")):
        return [parse_block(ds, ctx)]
    task = parse_task(ds, ctx)
    if task.action == "import_tasks":
        return [import_tasks(task, ctx)]
    if task.action == "import_role":
        from toolkit.playbook.roles import import_role  # roles imports this module

        return [import_role(task, ctx)]
    return [task]


def parse_block(ds: Dict[str, Any], ctx: LoadContext) -> Block:
    if "block" not in ds:
        other = "rescue" if "rescue" in ds else "always"
        raise ParseError(
            f"'{other}' needs a 'block:' in the same mapping", f.key_location(ds, other)
        )
    for key in ds:
        if key not in BLOCK:
            if isinstance(key, str) and ctx.is_action(key):
                raise ParseError(
                    f"a block cannot also run a module ('{key}'); move it into 'block:'",
                    f.key_location(ds, key),
                )
            raise unknown_key(ds, key, BLOCK, "a block")
    block = Block(role=ctx.role, basedir=ctx.basedir)
    read_keywords(block, ds)
    for part in ("block", "rescue", "always"):
        items = parse_items(ds.get(part), ctx, f"'{part}'", f.where(ds, part))
        setattr(block, part, items)
    return block


def parse_task(ds: Dict[str, Any], ctx: LoadContext) -> Task:
    allowed = HANDLER if ctx.handlers else TASK
    what = "a handler" if ctx.handlers else "a task"
    detected = detect_action(ds, allowed, ctx.is_action, what)
    cls = Handler if ctx.handlers else Task
    task = cls(action=detected.action, args=detected.args, role=ctx.role, basedir=ctx.basedir)
    task.raw = ds
    task.playbook_dir = ctx.playbook_dir
    read_keywords(task, ds)
    if detected.local:
        if task.delegate_to is not None:
            raise ParseError(
                "'local_action' and 'delegate_to' cannot be used together",
                f.key_location(ds, "delegate_to"),
            )
        task.delegate_to = "localhost"
    _read_task_keywords(task, ds)
    if isinstance(task, Handler):
        task.listen = f.as_str_list(ds, "listen")
    return task


def _read_task_keywords(task: Task, ds: Dict[str, Any]) -> None:
    task.register = f.as_var_name(ds, "register")
    task.changed_when = f.as_conditions(ds, "changed_when")
    task.failed_when = f.as_conditions(ds, "failed_when")
    task.until = f.as_conditions(ds, "until")
    task.retries = f.as_number(ds, "retries")
    task.delay = f.as_number(ds, "delay")
    task.async_ = f.as_number(ds, "async")
    task.poll = f.as_number(ds, "poll")
    _read_loop(task, ds)


def _read_loop(task: Task, ds: Dict[str, Any]) -> None:
    loops = [key for key in ds if isinstance(key, str) and key.startswith("with_")]
    if "loop" in ds:
        loops.insert(0, "loop")
    if len(loops) > 1:
        raise ParseError(
            f"a task can have only one loop, got {' and '.join(loops)}",
            f.key_location(ds, loops[1]),
            hint="use either 'loop:' or one 'with_<lookup>:'",
        )
    if loops:
        key = loops[0]
        value = ds[key]
        if key == "loop" and not (isinstance(value, list) or f.is_template(value)):
            raise f.fail(ds, key, "a list or a template that gives a list")
        task.loop = value
        task.loop_with = None if key == "loop" else key[len("with_") :]
    control = f.as_mapping(ds, "loop_control")
    if control is not None:
        task.loop_control = _loop_control(control)


def _loop_control(ds: Dict[str, Any]) -> LoopControl:
    for key in ds:
        if key not in LOOP_CONTROL:
            hint = did_you_mean(str(key), LOOP_CONTROL)
            raise ParseError(f"unknown loop_control option '{key}'", f.key_location(ds, key), hint)
    control = LoopControl()
    control.loop_var = f.as_var_name(ds, "loop_var") or "item"
    control.index_var = f.as_var_name(ds, "index_var")
    control.label = ds.get("label")
    control.pause = f.as_number(ds, "pause")
    control.extended = f.as_bool(ds, "extended")
    control.extended_allitems = f.as_bool(ds, "extended_allitems")
    return control


def import_tasks(task: Task, ctx: LoadContext) -> Block:
    """Expand `import_tasks` now: a block with the import's keywords around the file's tasks."""
    _check_static(task, "import_tasks", "include_tasks")
    name = task.args["file"]
    if not isinstance(name, str) or f.is_template(name):
        raise ParseError(
            f"import_tasks needs a plain file name, got {name!r}",
            task.location,
            hint="use include_tasks for a file name computed from variables",
        )
    path = ctx.resolve(name)
    if not os.path.isfile(path):
        raise ParseError(f"could not find tasks file '{name}' (looked for {path})", task.location)
    sub = ctx.enter(path, task.location)
    data = load_file(path)
    block = Block(role=ctx.role, basedir=sub.basedir)
    copy_keywords(task, block)
    block.block = parse_items(data, sub, f"the tasks file {name}", Location(path))
    return block


def _check_static(task: Task, action: str, dynamic: str) -> None:
    for key in task.raw:
        if key in ("loop", "until", "register") or str(key).startswith("with_"):
            raise ParseError(
                f"'{action}' is static and cannot use '{key}'",
                f.key_location(task.raw, key) or task.location,
                hint=f"use '{dynamic}' instead",
            )
