"""Find and load roles: entries in `roles:`, `meta/main.yml` dependencies, `import_role`.

Search order for a role name (as Ansible): `roles/` beside the playbook, each directory of
`TK_ROLES_PATH` / `ANSIBLE_ROLES_PATH` (colon-separated), the directory holding the current
role, then the playbook directory itself. A name containing `/` is a path.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from toolkit.errors import Location, ParseError, did_you_mean
from toolkit.playbook import fields as f
from toolkit.playbook.context import LoadContext, PlayState
from toolkit.playbook.inherit import merge
from toolkit.playbook.keywords import ROLE_ENTRY
from toolkit.playbook.model import Block, Keywords, Role, Task
from toolkit.playbook.tasks import copy_keywords, flatten_handlers, parse_items, read_keywords
from toolkit.yamlfile import load_file, location_of

_EXTENSIONS = (".yml", ".yaml", ".json", "")


def roles_path() -> List[str]:
    paths: List[str] = []
    for env in ("TK_ROLES_PATH", "ANSIBLE_ROLES_PATH"):
        paths.extend(p for p in os.environ.get(env, "").split(os.pathsep) if p)
    return [os.path.expanduser(p) for p in paths]


def search_dirs(ctx: LoadContext) -> List[str]:
    dirs = [os.path.join(ctx.playbook_dir, "roles"), *roles_path()]
    if ctx.role is not None:
        dirs.append(os.path.dirname(ctx.role.path))
    dirs.append(ctx.playbook_dir)
    return list(dict.fromkeys(dirs))


def find_role(name: str, ctx: LoadContext, location: Optional[Location]) -> str:
    """The directory of role `name`; a ParseError listing where it looked otherwise."""
    if "/" in name:
        path = name if os.path.isabs(name) else os.path.join(ctx.basedir, name)
        if os.path.isdir(path):
            return os.path.normpath(path)
        raise ParseError(f"role '{name}' not found (no directory {path})", location)
    dirs = search_dirs(ctx)
    names = [name]
    if name.count(".") == 2:  # namespace.collection.role: try the bare role name
        names.append(name.rsplit(".", 1)[1])
    for candidate in names:
        for base in dirs:
            path = os.path.join(base, candidate)
            if os.path.isdir(path):
                return os.path.normpath(path)
    available = {e for d in dirs if os.path.isdir(d) for e in os.listdir(d)}
    raise ParseError(
        f"role '{name}' not found in: {', '.join(dirs)}",
        location,
        did_you_mean(name, sorted(available)) or "set TK_ROLES_PATH to add search directories",
    )


def parse_entry(entry: Any, ctx: LoadContext, loc: Optional[Location]) -> Role:
    """A `roles:` item or meta dependency -> an unloaded Role (name, params, keywords)."""
    if isinstance(entry, str):
        entry_ds: Dict[str, Any] = {"role": entry}
        where = location_of(entry) or loc
    elif isinstance(entry, dict):
        entry_ds = entry
        where = location_of(entry) or loc
    else:
        raise ParseError(f"a role entry must be a name or a mapping, not {f.type_name(entry)}", loc)
    name = entry_ds.get("role", entry_ds.get("name"))
    if not isinstance(name, str) or not name.strip():
        raise ParseError("a role entry needs 'role:' (the role's name)", where)
    if f.is_template(name):
        raise ParseError(f"role name {name!r} cannot be a template here", where)
    keywords = Keywords()
    known = {k: v for k, v in entry_ds.items() if k in ROLE_ENTRY and k not in ("role", "name")}
    read_keywords(keywords, known)
    keywords.location = where
    params = {k: v for k, v in entry_ds.items() if k not in ROLE_ENTRY}
    f.check_var_names(params, f"role {name}")
    params = {**keywords.vars, **params}
    keywords.vars = {}
    role = Role(name=name.strip(), path="", params=params, location=where, keywords=keywords)
    role.tags = list(keywords.tags)
    role.when = list(keywords.when)
    return role


def load_role(role: Role, ctx: LoadContext, froms: Optional[Dict[str, str]] = None) -> Role:
    """Locate `role` and load its defaults, vars, meta dependencies, tasks and handlers."""
    froms = froms or {}
    role.path = find_role(role.name, ctx, role.location)
    role.name = os.path.basename(role.path)
    role.tasks_from = froms.get("tasks_from") or "main"
    sub = ctx.child(role=role, basedir=os.path.join(role.path, "tasks"), handlers=False)
    sub = sub.enter(os.path.join(role.path, "meta", "main.yml"), role.location)
    sub = sub.child(basedir=os.path.join(role.path, "tasks"))
    role.defaults = _load_vars(role, "defaults", froms.get("defaults_from"))
    role.vars = _load_vars(role, "vars", froms.get("vars_from"))
    _load_meta(role, sub)
    tasks_file = _find_file(role, "tasks", froms.get("tasks_from"))
    if tasks_file:
        role.tasks = parse_items(load_file(tasks_file), sub, "a role's tasks", Location(tasks_file))
    handlers_file = _find_file(role, "handlers", froms.get("handlers_from"))
    if handlers_file:
        hctx = sub.child(handlers=True, basedir=os.path.join(role.path, "handlers"))
        items = parse_items(load_file(handlers_file), hctx, "handlers", Location(handlers_file))
        role.handlers = flatten_handlers(items)
    return role


def _find_file(role: Role, kind: str, name: Optional[str]) -> Optional[str]:
    """`kind/name(.yml|.yaml|.json|)`; a missing explicit `*_from` file is an error."""
    base = os.path.join(role.path, kind, name or "main")
    for ext in _EXTENSIONS:
        if os.path.isfile(base + ext):
            return base + ext
    if name:
        raise ParseError(f"role '{role.name}' has no {kind} file '{name}'", role.location)
    return None


def _load_vars(role: Role, kind: str, name: Optional[str]) -> Dict[str, Any]:
    """defaults/ or vars/: a main file, or a main/ directory of files merged in sorted order."""
    target = os.path.join(role.path, kind, name or "main")
    if os.path.isdir(target):
        files = [
            os.path.join(target, e)
            for e in sorted(os.listdir(target))
            if os.path.isfile(os.path.join(target, e)) and e.endswith(_EXTENSIONS[:3])
        ]
    else:
        found = _find_file(role, kind, name)
        files = [found] if found else []
    merged: Dict[str, Any] = {}
    for path in files:
        data = load_file(path)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ParseError(
                f"{kind} file must be a mapping of variables, not {f.type_name(data)}",
                location_of(data) or Location(path),
            )
        f.check_var_names(data, f"{kind} of role {role.name}")
        merged.update(data)
    return merged


def _load_meta(role: Role, ctx: LoadContext) -> None:
    path = _find_file(role, "meta", None)
    if path is None:
        return
    meta = load_file(path)
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise ParseError("meta/main.yml must be a mapping", location_of(meta) or Location(path))
    role.allow_duplicates = bool(f.as_bool(meta, "allow_duplicates"))
    deps = f.as_list(meta, "dependencies")
    for entry in deps:
        dep = parse_entry(entry, ctx, location_of(deps))
        role.dependencies.append(load_role(dep, ctx))


def run_list(role: Role, state: PlayState, scope: Optional[Keywords] = None) -> List[Role]:
    """`role` and its dependencies in run order (dependencies first), skipping applications
    already made in this play unless the role allows duplicates."""
    scope = merge(scope or Keywords(), role.keywords)
    out: List[Role] = []
    for dep in role.dependencies:
        out.extend(run_list(dep, state, scope))
    key = _identity(role)
    if key in state.applied and not role.allow_duplicates:
        return out
    state.applied[key] = role
    role.keywords = scope
    role.tags = list(scope.tags)
    role.when = list(scope.when)
    out.append(role)
    return out


def _identity(role: Role) -> Tuple[str, str]:
    return (role.path, repr((role.tasks_from, sorted(role.params.items(), key=lambda i: i[0]))))


def import_role(task: Task, ctx: LoadContext) -> Block:
    """Expand `import_role` now: a block with the task's keywords around the role's tasks."""
    from toolkit.playbook.tasks import _check_static

    _check_static(task, "import_role", "include_role")
    args = dict(task.args)
    role = Role(name=str(args["name"]), path="", location=task.location)
    froms = {k: str(args[k]) for k in args if k.endswith("_from")}
    load_role(role, ctx, froms)
    role.allow_duplicates = True
    block = Block(role=ctx.role, basedir=ctx.basedir)
    copy_keywords(task, block)
    for applied in run_list(role, PlayState()):
        block.block.append(role_block(applied))
        ctx.play.imported_roles.append(applied)
    return block


def role_block(role: Role) -> Block:
    """A block carrying the role entry's keywords around the role's tasks."""
    block = Block(role=role, basedir=os.path.join(role.path, "tasks"))
    copy_keywords(role.keywords, block)
    block.block = list(role.tasks)
    return block
