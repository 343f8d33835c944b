"""Load a playbook file into the model: plays, static imports, roles, inheritance.

Public API:
- `load_playbook(path) -> Playbook`: the whole playbook, `import_playbook` / `import_tasks` /
  `import_role` expanded; `ParseError` with file:line:col on any mistake.
- `load_tasks_file(path, include=task)`: what a dynamic `include_tasks` brings in, resolved
  under the include task's scope (the executor calls it at run time with the rendered path).
- `load_included_role(include, args)`: the same for `include_role`.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from toolkit.errors import Location, ParseError, did_you_mean
from toolkit.playbook import fields as f
from toolkit.playbook.context import LoadContext, PlayState
from toolkit.playbook.inherit import include_scope, merge, resolve_items, resolve_task
from toolkit.playbook.keywords import BLOCK, IMPORT_PLAYBOOK, ORDERS, PLAY, STRATEGIES
from toolkit.playbook.model import (
    INHERITED_KEYWORDS,
    Block,
    Handler,
    Keywords,
    Play,
    Playbook,
    Role,
    Task,
    TaskItem,
    iter_tasks,
)
from toolkit.playbook.names import canonical_action, is_known_action
from toolkit.playbook.roles import load_role, parse_entry, role_block, run_list
from toolkit.playbook.tasks import flatten_handlers, parse_items, read_keywords
from toolkit.yamlfile import load_file, location_of

ActionCheck = Callable[[str], bool]


def load_playbook(path: str, *, is_action: Optional[ActionCheck] = None) -> Playbook:
    """Load and validate a playbook; `is_action` overrides which action names exist."""
    path = os.path.abspath(str(path))
    if not os.path.isfile(path):
        raise ParseError(f"playbook not found: {path}")
    ctx = LoadContext(
        basedir=os.path.dirname(path),
        playbook_dir=os.path.dirname(path),
        is_action=is_action or is_known_action,
    )
    return Playbook(path=path, plays=_load_plays(path, ctx.enter(path, None)))


def _load_plays(path: str, ctx: LoadContext) -> List[Play]:
    data = load_file(path)
    if data is None:
        raise ParseError("the playbook is empty: it needs a list of plays", Location(path))
    if not isinstance(data, list):
        raise ParseError(
            f"a playbook must be a list of plays, not {f.type_name(data)}",
            location_of(data) or Location(path),
            hint="start each play with '- hosts: ...'",
        )
    plays: List[Play] = []
    for entry in data:
        if not isinstance(entry, dict):
            raise ParseError(
                f"a play must be a mapping, not {f.type_name(entry)}",
                location_of(entry) or location_of(data),
            )
        keys = {canonical_action(k) if isinstance(k, str) else k for k in entry}
        if "import_playbook" in keys:
            plays.extend(_import_playbook(entry, ctx))
        else:
            plays.append(parse_play(entry, ctx))
    return plays


def _import_playbook(entry: Dict[str, Any], ctx: LoadContext) -> List[Play]:
    key = next(k for k in entry if canonical_action(str(k)) == "import_playbook")
    for other in entry:
        if other != key and other not in IMPORT_PLAYBOOK:
            hint = did_you_mean(str(other), IMPORT_PLAYBOOK)
            raise ParseError(
                f"'{other}' is not allowed with import_playbook", f.key_location(entry, other), hint
            )
    name = entry[key]
    if not isinstance(name, str) or not name.strip() or f.is_template(name):
        raise ParseError("import_playbook needs a plain file name", f.where(entry, key))
    path = os.path.normpath(name if os.path.isabs(name) else os.path.join(ctx.basedir, name))
    if not os.path.isfile(path):
        raise ParseError(
            f"could not find playbook '{name}' (looked for {path})", f.where(entry, key)
        )
    sub = ctx.enter(path, f.where(entry, key))
    sub = sub.child(playbook_dir=sub.basedir)
    extra_vars = f.as_vars(entry, "vars")
    tags = f.as_str_list(entry, "tags", comma=True)
    when = f.as_conditions(entry, "when")
    plays = _load_plays(path, sub)
    for play in plays:
        play.vars = {**play.vars, **extra_vars}
        play.playbook_vars = {**extra_vars, **play.playbook_vars}
        play.tags = tags + [t for t in play.tags if t not in tags]
        _reapply(play, Keywords(tags=tags, when=when))
    return plays


def _reapply(play: Play, outer: Keywords) -> None:
    """Push an import_playbook's tags/when onto every task of its (already resolved) plays."""
    play.when = list(outer.when) + play.when
    for section in (play.pre_tasks, play.tasks, play.post_tasks, play.all_handlers()):
        _prepend(section, outer)
    for role in play.roles:
        _prepend(role.tasks, outer)


def _prepend(items: List[TaskItem], outer: Keywords) -> None:
    for task in iter_tasks(items):
        task.when = list(outer.when) + task.when
        task.tags = list(outer.tags) + [t for t in task.tags if t not in outer.tags]


def parse_play(ds: Dict[str, Any], ctx: LoadContext) -> Play:
    """One play mapping -> a resolved Play."""
    for key in ds:
        if key not in PLAY:
            _bad_play_key(ds, key, ctx)
    if "hosts" not in ds or ds["hosts"] is None or ds["hosts"] == "":
        raise ParseError(
            "a play needs 'hosts:' (the host pattern it runs on)",
            location_of(ds),
            hint="e.g. 'hosts: all' or 'hosts: webservers'",
        )
    state = PlayState()
    ctx = ctx.child(play=state, role=None, handlers=False)
    play = Play(basedir=ctx.basedir)
    read_keywords(play, ds)
    _read_play_keywords(play, ds)
    for section in ("pre_tasks", "tasks", "post_tasks"):
        items = parse_items(ds.get(section), ctx, f"'{section}'", f.where(ds, section))
        setattr(play, section, items)
    handlers = parse_items(
        ds.get("handlers"), ctx.child(handlers=True), "'handlers'", f.where(ds, "handlers")
    )
    play.handlers = flatten_handlers(handlers)
    roles_ds = f.as_list(ds, "roles")
    for entry in roles_ds:
        role = load_role(parse_entry(entry, ctx, location_of(roles_ds)), ctx)
        play.roles.extend(run_list(role, state))
    play.imported_roles = list(state.imported_roles)
    _resolve_play(play)
    return play


def _bad_play_key(ds: Dict[str, Any], key: Any, ctx: LoadContext) -> None:
    loc = f.key_location(ds, key)
    if key == "when":
        raise ParseError(
            "'when' is not allowed on a play (plays have no condition)",
            loc,
            hint="put 'when:' on tasks, blocks or roles, or on an import_playbook",
        )
    if isinstance(key, str) and (key == "block" or ctx.is_action(canonical_action(key))):
        raise ParseError(
            f"'{key}' is not allowed on a play; put tasks under 'tasks:'",
            loc,
            hint="a play has hosts:, vars:, tasks:, handlers:, roles: ...",
        )
    hint = did_you_mean(str(key), PLAY)
    raise ParseError(f"unknown play keyword '{key}'", loc, hint)


def _read_play_keywords(play: Play, ds: Dict[str, Any]) -> None:
    hosts = ds["hosts"]
    if hosts == []:
        raise ParseError("'hosts' must not be an empty list", f.where(ds, "hosts"))
    if isinstance(hosts, list) and all(isinstance(h, str) and h for h in hosts):
        play.hosts = ",".join(hosts)
    elif isinstance(hosts, str):
        play.hosts = hosts
    else:
        raise f.fail(ds, "hosts", "a host pattern or a list of them")
    play.name = play.name or None
    play.vars_files = _vars_files(ds)
    play.vars_prompt = _vars_prompt(ds)
    play.gather_facts = f.as_bool(ds, "gather_facts")
    play.gather_subset = ds.get("gather_subset")
    play.gather_timeout = f.as_number(ds, "gather_timeout")
    play.fact_path = f.as_str(ds, "fact_path")
    play.serial = _serial(ds)
    play.strategy = _choice(ds, "strategy", STRATEGIES)
    play.max_fail_percentage = f.as_number(ds, "max_fail_percentage", percent=True)
    play.order = _choice(ds, "order", ORDERS)
    play.force_handlers = f.as_bool(ds, "force_handlers")
    play.collections = f.as_str_list(ds, "collections")


def _serial(ds: Dict[str, Any]) -> Optional[Any]:
    if ds.get("serial") is None:
        return None
    value = ds["serial"]
    items = value if isinstance(value, list) else [value]
    out = [f.as_number({"serial": item}, "serial", percent=True) for item in items]
    for item, parsed in zip(items, out):
        if isinstance(parsed, (int, float)) and parsed < 0:
            raise ParseError(
                "'serial' must not be negative", location_of(item) or f.where(ds, "serial")
            )
    return out if isinstance(value, list) else out[0]


def _choice(ds: Dict[str, Any], key: str, choices) -> Optional[str]:
    value = f.as_str(ds, key)
    if value is None or f.is_template(value) or value in choices:
        return value
    hint = did_you_mean(value, choices) or f"one of: {', '.join(sorted(choices))}"
    raise ParseError(f"invalid {key} {value!r}", f.where(ds, key), hint)


def _vars_files(ds: Dict[str, Any]) -> List[Any]:
    value = ds.get("vars_files")
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    for item in items:
        alternatives = item if isinstance(item, list) else [item]
        if not all(isinstance(a, str) and a for a in alternatives):
            raise f.fail(ds, "vars_files", "a file name or a list of file names")
    return list(items)


def _vars_prompt(ds: Dict[str, Any]) -> List[Dict[str, Any]]:
    items = f.as_list(ds, "vars_prompt")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ParseError(
                "each vars_prompt entry needs 'name:'",
                location_of(item) or f.where(ds, "vars_prompt"),
            )
    return items


def play_scope(play: Play) -> Keywords:
    """What a play passes down to its tasks (not its vars: those are play-level variables)."""
    scope = Keywords(when=list(play.when), tags=list(play.tags), environment=play.environment)
    for name in INHERITED_KEYWORDS:
        setattr(scope, name, getattr(play, name))
    return scope


def _resolve_play(play: Play) -> None:
    scope = play_scope(play)
    for items in (play.pre_tasks, play.tasks, play.post_tasks):
        resolve_items(items, scope)
    for role in play.roles:
        role_scope = merge(scope, role.keywords)
        resolve_items(role.tasks, role_scope)
        for handler in role.handlers:
            resolve_task(handler, role_scope)
    for role in play.imported_roles:
        for handler in role.handlers:
            resolve_task(handler, merge(scope, role.keywords))
    for handler in play.handlers:
        resolve_task(handler, scope)


def load_tasks_file(
    path: str,
    include: Optional[Task] = None,
    *,
    apply: Optional[Dict[str, Any]] = None,
    is_action: Optional[ActionCheck] = None,
) -> List[TaskItem]:
    """The tasks of `path` for a dynamic `include_tasks`, resolved under the include's scope.

    `path` is the rendered file name; relative names resolve like Ansible (the role's tasks/
    dir, then the including file's dir, then the playbook dir). `apply` defaults to the
    include's `apply:` argument (keywords for every included task, e.g. tags, become).
    """
    ctx = _include_ctx(include, is_action)
    full = ctx.resolve(str(path))
    if not os.path.isfile(full):
        where = include.location if include is not None else None
        raise ParseError(f"could not find tasks file '{path}' (looked for {full})", where)
    sub = ctx.enter(full, include.location if include is not None else None)
    items = parse_items(load_file(full), sub, f"the tasks file {path}", Location(full))
    if apply is None and include is not None:
        apply = include.args.get("apply")
    items = _wrap_apply(items, apply, include, sub)
    resolve_items(items, include_scope(include) if include is not None else Keywords())
    return items


def load_included_role(
    include: Task,
    args: Optional[Dict[str, Any]] = None,
    *,
    is_action: Optional[ActionCheck] = None,
) -> Tuple[List[TaskItem], List[Handler]]:
    """Tasks (dependencies' first) and handlers for an `include_role` task; `args` are the
    rendered arguments (default: the task's own)."""
    args = dict(include.args if args is None else args)
    ctx = _include_ctx(include, is_action)
    role = Role(name=str(args.get("name", "")), path="", location=include.location)
    froms = {k: str(v) for k, v in args.items() if k.endswith("_from") and v}
    load_role(role, ctx, froms)
    role.allow_duplicates = True
    scope = include_scope(include)
    items: List[TaskItem] = []
    handlers: List[Handler] = []
    for applied in run_list(role, PlayState()):
        block = role_block(applied)
        items.append(block)
        for handler in applied.handlers:
            resolve_task(handler, merge(scope, applied.keywords))
        handlers.extend(applied.handlers)
    items = _wrap_apply(items, args.get("apply"), include, ctx)
    resolve_items(items, scope)
    return items, handlers


def _include_ctx(include: Optional[Task], is_action: Optional[ActionCheck]) -> LoadContext:
    basedir = include.basedir if include is not None else os.getcwd()
    playbook_dir = include.playbook_dir if include is not None else basedir
    role = include.role if include is not None else None
    return LoadContext(
        basedir=basedir,
        playbook_dir=playbook_dir,
        role=role,
        handlers=isinstance(include, Handler),
        is_action=is_action or is_known_action,
    )


def _wrap_apply(
    items: List[TaskItem], apply: Any, include: Optional[Task], ctx: LoadContext
) -> List[TaskItem]:
    if not apply:
        return items
    loc = include.location if include is not None else None
    if not isinstance(apply, dict):
        raise ParseError("'apply' must be a mapping of keywords", loc)
    for key in apply:
        if key not in BLOCK or key in ("block", "rescue", "always"):
            raise ParseError(
                f"'{key}' cannot be used in 'apply'", loc, did_you_mean(str(key), BLOCK)
            )
    block = Block(role=ctx.role, basedir=ctx.basedir)
    read_keywords(block, apply)
    block.block = items
    return [block]
