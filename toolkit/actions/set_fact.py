"""`set_fact`: host variables for the rest of the run (`cacheable: yes` makes them facts)."""

from __future__ import annotations

from typing import Any, Dict

from toolkit.actions.base import ActionContext
from toolkit.errors import ArgumentError

_BOOL = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return _BOOL.get(value.strip().lower(), bool(value))
    return bool(value)


def run(ctx: ActionContext) -> Dict[str, Any]:
    facts = dict(ctx.args)
    cacheable = _truthy(facts.pop("cacheable", False))
    facts.pop("_raw_params", None)
    if not facts:
        raise ArgumentError("set_fact needs at least one name: value pair", ctx.location)
    for name in facts:
        if not str(name).isidentifier():
            raise ArgumentError(f"set_fact: '{name}' is not a valid variable name", ctx.location)
    return {"changed": False, "ansible_facts": facts, "_ansible_facts_cacheable": cacheable}
