"""`debug`: print a message (`msg`) or a variable (`var`), optionally only at some verbosity."""

from __future__ import annotations

from typing import Any, Dict

from toolkit.actions.base import ActionContext
from toolkit.errors import ArgumentError, TemplateError


def run(ctx: ActionContext) -> Dict[str, Any]:
    args = ctx.args
    unknown = set(args) - {"msg", "var", "verbosity"}
    if unknown:
        raise ArgumentError(f"debug: unsupported argument(s) {', '.join(sorted(unknown))}",
                            ctx.location, hint="use msg, var and verbosity")  # fmt: skip
    if "msg" in args and "var" in args:
        raise ArgumentError("debug: 'msg' and 'var' are mutually exclusive", ctx.location)
    verbosity = int(args.get("verbosity") or 0)
    if ctx.verbosity < verbosity:
        return {"changed": False, "skipped": True, "skip_reason": "Verbosity threshold not met."}
    result: Dict[str, Any] = {"changed": False, "_ansible_verbose_always": True}
    if "var" in args:
        name = str(args["var"])
        try:
            value = ctx.templar.render("{{ " + name + " }}")
        except TemplateError:
            value = "VARIABLE IS NOT DEFINED!"
        result[name] = value
    else:
        result["msg"] = args.get("msg", "Hello world!")
    return result
