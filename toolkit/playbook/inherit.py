"""Apply keyword inheritance: play -> role entry -> blocks -> task, resolved at load time.

After `resolve_items`, every `Task` carries its effective keywords (see the contract in
`toolkit.playbook.model`): conditions and tags accumulate, vars merge (inner wins), and the
other inheritable keywords come from the nearest level that set them.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from toolkit.playbook.model import INHERITED_KEYWORDS, Block, Keywords, Task, TaskItem


def merge(parent: Keywords, child: Keywords) -> Keywords:
    """The effective keywords of `child` written inside `parent` (neither is changed)."""
    out = Keywords()
    out.when = list(parent.when) + list(child.when)
    out.tags = union(parent.tags, child.tags)
    out.vars = {**parent.vars, **child.vars}
    out.environment = merge_environment(parent.environment, child.environment)
    out.notify = list(child.notify or parent.notify)
    for name in INHERITED_KEYWORDS:
        value = getattr(child, name)
        setattr(out, name, getattr(parent, name) if value is None else value)
    return out


def union(first: Sequence[str], second: Sequence[str]) -> List[str]:
    out = list(first)
    out.extend(tag for tag in second if tag not in out)
    return out


def merge_environment(parent: Optional[Any], child: Optional[Any]) -> Optional[Any]:
    """Dicts merge (inner wins); a template anywhere gives a list to merge in order."""
    if parent is None:
        return child
    if child is None:
        return parent
    if isinstance(parent, dict) and isinstance(child, dict):
        return {**parent, **child}
    parts = parent if isinstance(parent, list) else [parent]
    return [*parts, *(child if isinstance(child, list) else [child])]


def resolve_items(items: List[TaskItem], scope: Keywords, parents: Sequence[Block] = ()) -> None:
    """Give every task under `items` its effective keywords within `scope`."""
    for item in items:
        if isinstance(item, Block):
            inner = merge(scope, item)
            chain = (*parents, item)
            for part in (item.block, item.rescue, item.always):
                resolve_items(part, inner, chain)
        else:
            resolve_task(item, scope, parents)


def resolve_task(task: Task, scope: Keywords, parents: Sequence[Block] = ()) -> None:
    effective = merge(scope, task)
    task.scope = scope
    task.parents = list(parents)
    task.when = effective.when
    task.tags = effective.tags
    task.vars = effective.vars
    task.environment = effective.environment
    task.notify = effective.notify
    for name in INHERITED_KEYWORDS:
        setattr(task, name, getattr(effective, name))


def include_scope(include: Task) -> Keywords:
    """The scope for tasks a dynamic include brings in: the include's surroundings plus its
    vars and inheritable keywords, but not its own `when` or `tags` (those gate the include)."""
    base = include.scope or Keywords()
    scope = Keywords()
    scope.when = list(base.when)
    scope.tags = list(base.tags)
    scope.vars = dict(include.vars)
    scope.environment = include.environment
    for name in INHERITED_KEYWORDS:
        setattr(scope, name, getattr(include, name))
    return scope
