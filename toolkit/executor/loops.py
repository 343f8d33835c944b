"""Loop items of a task (`loop:` or `with_<lookup>:`) and the variables of each iteration."""

from __future__ import annotations

from typing import Any, Dict, List

from toolkit.errors import TkError
from toolkit.playbook.model import LoopControl, Task
from toolkit.templating import Templar


def loop_items(task: Task, templar: Templar) -> List[Any]:
    """The list to iterate: `loop` rendered, or the `with_X` lookup run on its terms."""
    if task.loop_with:
        terms = templar.render(task.loop)
        items = templar.eval_lookup(task.loop_with, terms, wantlist=True)
    else:
        items = templar.render(task.loop)
    if isinstance(items, str):
        raise TkError(
            f"'loop' needs a list, got the string {items!r}",
            task.location,
            hint="use a list, or with_items for a single value",
        )
    if isinstance(items, dict):
        raise TkError("'loop' needs a list, got a mapping", task.location, hint="use dict2items")
    if items is None:
        return []
    return list(items)


def loop_vars(
    control: LoopControl, templar: Templar, items: List[Any], index: int
) -> Dict[str, Any]:
    """The loop variable, `ansible_loop_var`, the index var and `ansible_loop` (extended)."""
    loop_var = str(control.loop_var or "item")
    extra: Dict[str, Any] = {loop_var: items[index], "ansible_loop_var": loop_var}
    if control.index_var:
        extra[str(control.index_var)] = index
        extra["ansible_index_var"] = str(control.index_var)
    if control.extended and templar.is_true(control.extended):
        length = len(items)
        loop = {
            "index": index + 1,
            "index0": index,
            "revindex": length - index,
            "revindex0": length - index - 1,
            "first": index == 0,
            "last": index == length - 1,
            "length": length,
        }
        if index > 0:
            loop["previtem"] = items[index - 1]
        if index < length - 1:
            loop["nextitem"] = items[index + 1]
        if control.extended_allitems is None or templar.is_true(control.extended_allitems):
            loop["allitems"] = items
        extra["ansible_loop"] = loop
    return extra
